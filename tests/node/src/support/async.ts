// Waiting with a limit, so that a missing event fails the test instead of hanging it.

/** How long a test waits for one call, stream event or server reaction. */
export const WAIT_MS = 10_000;

/** Resolves like `promise`, or rejects naming `what` when it has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, what: string | (() => string), ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${ms} ms waiting for ${typeof what === "string" ? what : what()}`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise with its resolve and reject functions outside. */
export class Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;
  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/**
 * Collects what a stream or subscription delivers; `take(n)` waits (with a limit) until `n`
 * items have arrived and returns the first `n`. An error pushed with `fail` rejects waiters.
 */
export class Inbox<T> {
  readonly items: T[] = [];
  private error: unknown = undefined;
  private failed = false;
  private waiters: Array<() => void> = [];

  push(item: T): void {
    this.items.push(item);
    this.wake();
  }

  fail(error: unknown): void {
    this.failed = true;
    this.error = error;
    this.wake();
  }

  async take(n: number, what = `${n} items`, ms = WAIT_MS): Promise<T[]> {
    const ready = async () => {
      while (this.items.length < n) {
        if (this.failed) {
          throw new Error(`the stream failed after ${this.items.length} of ${n} items: ${explain(this.error)}`, {
            cause: this.error,
          });
        }
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
      return this.items.slice(0, n);
    };
    return within(ready(), () => `${what} (got ${this.items.length}: ${JSON.stringify(this.items)})`, ms);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** An error as one line, for failure messages. */
export function explain(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** A short string no other test uses, for room names, titles and the like. */
export function unique(prefix = "t"): string {
  return `${prefix}${Math.random().toString(36).slice(2, 10)}${Date.now().toString(36).slice(-4)}`;
}
