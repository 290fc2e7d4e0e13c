// What the test pages share: their elements, their parameters, and where they list errors.

/** The page's element #id; throws when the page has none. */
export function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`${location.pathname} has no #${id}`);
  return found as T;
}

/** The query parameter `name` of the page's address; throws when it is missing. */
export function param(name: string): string {
  const value = new URLSearchParams(location.search).get(name);
  if (!value) throw new Error(`the page needs ?${name}= in its address`);
  return value;
}

/** Lists an error in #errors (which the tests read) and on the console. */
export function report(where: string, message: string): void {
  const item = document.createElement("li");
  item.textContent = `${where}: ${message}`;
  element("errors").append(item);
  console.error(`${where}: ${message}`);
}
