//! Input rules that got stricter: protovalidate rules on the messages
//! requests reach, old against new. A stricter rule refuses requests that
//! passed before, on every protocol (the runtime checks every request); a
//! looser or removed rule breaks no client, so it is never reported.
//!
//! Each function returns the findings' messages; `evolve.rs` reports them.

use std::cmp::Ordering;

use crate::backend::rules_doc::{lines, rule_line, text};
use crate::model::{CustomRules, FieldRules, Ignore, Message, MessageOneofRule, RuleValue, TypedRules};

/// What every message ends with.
const REFUSED: &str = "requests valid before are refused now";

/// Where `old`'s rules of field `field` (`shop.v1.Item.title`) are stricter in `new`.
pub(super) fn field(old: Option<&FieldRules>, new: Option<&FieldRules>, field: &str) -> Vec<String> {
    let mut out = Vec::new();
    compare(old, new, "", field, &mut out);
    out
}

/// The rules of a field that is new in a request message: only `required`
/// refuses every request an old client sends.
pub(super) fn added_field(new: Option<&FieldRules>, field: &str) -> Vec<String> {
    match new {
        Some(rules) if rules.required && rules.ignore != Ignore::Always => {
            vec![format!("field `{field}` was added with `required`: requests without it are refused now")]
        }
        _ => Vec::new(),
    }
}

/// How many values `ignore` leaves checked: more is stricter.
fn checked(ignore: Ignore) -> u8 {
    match ignore {
        Ignore::Always => 0,
        Ignore::IfZeroValue => 1,
        Ignore::Unspecified => 2,
    }
}

fn ignore_name(ignore: Ignore) -> &'static str {
    match ignore {
        Ignore::Always => "IGNORE_ALWAYS",
        Ignore::IfZeroValue => "IGNORE_IF_ZERO_VALUE",
        Ignore::Unspecified => "IGNORE_UNSPECIFIED",
    }
}

fn compare(old: Option<&FieldRules>, new: Option<&FieldRules>, prefix: &str, field: &str, out: &mut Vec<String>) {
    let Some(new) = new else { return };
    let none = FieldRules::default();
    let old = old.unwrap_or(&none);
    if new.ignore == Ignore::Always {
        return;
    }
    if checked(new.ignore) > checked(old.ignore) {
        let rules: Vec<String> = lines(new).iter().map(|l| format!("`{prefix}{l}`")).collect();
        if !rules.is_empty() {
            out.push(format!(
                "`{prefix}ignore` of `{field}` went from {} to {}: its rules ({}) apply to more values, {REFUSED}",
                ignore_name(old.ignore),
                ignore_name(new.ignore),
                rules.join(", ")
            ));
        }
        if old.ignore == Ignore::Always {
            return; // every rule is new to the clients; said once
        }
    }
    if new.required && !old.required {
        out.push(format!("`{prefix}required` was added to `{field}`: requests without it are refused now"));
    }
    out.extend(
        added_custom(&old.custom, &new.custom)
            .map(|e| format!("`{prefix}cel` rule `{e}` was added to `{field}`: {REFUSED}")),
    );
    let Some(typed) = &new.typed else { return };
    // Rules of another kind (the field's type changed) check nothing the new ones do.
    let before = old.typed.as_ref().filter(|o| o.kind == typed.kind);
    rules(before, typed, prefix, field, out);
    let (first, second) = if typed.kind == "map" { ("keys", "values") } else { ("items", "") };
    let nested = |p: &str| format!("{prefix}{}.{p}.", typed.kind);
    compare(before.and_then(|o| o.items.as_deref()), typed.items.as_deref(), &nested(first), field, out);
    compare(before.and_then(|o| o.values.as_deref()), typed.values.as_deref(), &nested(second), field, out);
}

fn rules(old: Option<&TypedRules>, new: &TypedRules, prefix: &str, field: &str, out: &mut Vec<String>) {
    let kind = new.kind.as_str();
    bounds(old, new, prefix, field, out);
    for (name, value) in &new.rules {
        if matches!(name.as_str(), "lt" | "lte" | "gt" | "gte") {
            continue;
        }
        let before = old.and_then(|o| o.get(name));
        let tighter = match (name.as_str(), before) {
            // A rule that is set now, and was not, refuses something it did not.
            (_, None) => !matches!(value, RuleValue::Bool(false)) || name == "const",
            ("min_len" | "min_bytes" | "min_items" | "min_pairs", Some(b)) => cmp(value, b) == Some(Ordering::Greater),
            ("max_len" | "max_bytes" | "max_items" | "max_pairs" | "within", Some(b)) => {
                cmp(value, b) == Some(Ordering::Less)
            }
            // `in`: a value it no longer lists; `not_in`: a value it newly lists.
            ("in", Some(b)) => !lists_all(value, b),
            ("not_in", Some(b)) => !lists_all(b, value),
            ("const", Some(b)) => b != value,
            // Flags (`unique`, `defined_only`, `email`, `finite`, …) turned on.
            (_, Some(b)) if matches!(value, RuleValue::Bool(_)) => *value == RuleValue::Bool(true) && *b != *value,
            // `len`, `pattern`, `prefix`, `suffix`, `contains`, …: any change refuses something.
            (_, Some(b)) => b != value,
        };
        if !tighter {
            continue;
        }
        out.push(match before {
            None => format!("`{}` was added to `{field}`: {REFUSED}", rule_line(prefix, kind, name, value)),
            Some(RuleValue::Bool(_)) if matches!(value, RuleValue::Bool(true)) && name != "const" => {
                format!("`{}` was turned on for `{field}`: {REFUSED}", rule_line(prefix, kind, name, value))
            }
            Some(b) => {
                format!("`{prefix}{kind}.{name}` of `{field}` went from {} to {}: {REFUSED}", text(b), text(value))
            }
        });
    }
}

/// Whether the list `all` holds every item of the list `some`.
fn lists_all(all: &RuleValue, some: &RuleValue) -> bool {
    match (all, some) {
        (RuleValue::List(all), RuleValue::List(some)) => some.iter().all(|s| all.contains(s)),
        _ => all == some,
    }
}

/// A bound's value, comparable across rule value forms.
#[derive(Clone, Copy)]
enum Num {
    /// Integers, and Durations and Timestamps in nanoseconds.
    Exact(i128),
    Float(f64),
}

fn num(v: &RuleValue) -> Option<Num> {
    Some(match v {
        RuleValue::Int(n) => Num::Exact(i128::from(*n)),
        RuleValue::Uint(n) => Num::Exact(i128::from(*n)),
        RuleValue::Time(s, n) => Num::Exact(i128::from(*s) * 1_000_000_000 + i128::from(*n)),
        RuleValue::Float(x) => Num::Float(*x),
        _ => return None,
    })
}

fn num_cmp(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Exact(x), Num::Exact(y)) => Some(x.cmp(&y)),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y),
        (Num::Exact(x), Num::Float(y)) => (x as f64).partial_cmp(&y),
        (Num::Float(x), Num::Exact(y)) => x.partial_cmp(&(y as f64)),
    }
}

fn cmp(a: &RuleValue, b: &RuleValue) -> Option<Ordering> {
    num_cmp(num(a)?, num(b)?)
}

/// A range's bound: the rule (`lt`, `lte`, `gt` or `gte`) and its value.
type Bound<'a> = (&'a str, &'a RuleValue);

/// The first of `names` set in `t` (protovalidate allows one of each pair).
fn bound<'a>(t: Option<&'a TypedRules>, names: [&str; 2]) -> Option<Bound<'a>> {
    let t = t?;
    t.rules.iter().find(|(n, _)| names.contains(&n.as_str())).map(|(n, v)| (n.as_str(), v))
}

/// Whether `new` admits fewer values than `old` (no bound at all admits every value).
/// Exact values compare as inclusive bounds (`lt: 10` is `lte: 9`), floats keep
/// their exclusiveness.
fn tighter(old: Option<Bound>, new: Bound, upper: bool) -> bool {
    let Some(old) = old else { return true };
    let key = |(name, v): Bound| -> Option<(Num, bool)> {
        let exclusive = name == "lt" || name == "gt";
        Some(match num(v)? {
            Num::Exact(x) if exclusive => (Num::Exact(if upper { x - 1 } else { x + 1 }), false),
            n => (n, exclusive),
        })
    };
    let (Some((o, o_exclusive)), Some((n, n_exclusive))) = (key(old), key(new)) else { return old != new };
    match num_cmp(n, o) {
        Some(Ordering::Less) => upper,
        Some(Ordering::Greater) => !upper,
        Some(Ordering::Equal) => n_exclusive && !o_exclusive,
        None => true,
    }
}

/// An upper bound below the lower one: protovalidate's excluded range (the values outside it).
fn is_excluded_range(t: Option<&TypedRules>) -> bool {
    match (bound(t, ["lt", "lte"]), bound(t, ["gt", "gte"])) {
        (Some((_, hi)), Some((_, lo))) => cmp(hi, lo) == Some(Ordering::Less),
        _ => false,
    }
}

fn bounds(old: Option<&TypedRules>, new: &TypedRules, prefix: &str, field: &str, out: &mut Vec<String>) {
    let kind = new.kind.as_str();
    if is_excluded_range(old) || is_excluded_range(Some(new)) {
        // Excluded ranges do not order simply: any change to one may refuse something.
        let (before, after) = (range_text(old, prefix), range_text(Some(new), prefix));
        if before != after && !after.is_empty() {
            let before = if before.is_empty() { "no range".to_owned() } else { before };
            out.push(format!("the range of `{field}` went from {before} to {after}: {REFUSED}"));
        }
        return;
    }
    for (names, upper) in [(["lt", "lte"], true), (["gt", "gte"], false)] {
        let Some(now) = bound(Some(new), names) else { continue };
        let was = bound(old, names);
        if !tighter(was, now, upper) {
            continue;
        }
        out.push(match was {
            None => format!("`{}` was added to `{field}`: {REFUSED}", rule_line(prefix, kind, now.0, now.1)),
            Some((name, value)) if name == now.0 => {
                format!("`{prefix}{kind}.{name}` of `{field}` went from {} to {}: {REFUSED}", text(value), text(now.1))
            }
            Some((name, value)) => format!(
                "`{}` of `{field}` became `{}`: {REFUSED}",
                rule_line(prefix, kind, name, value),
                rule_line(prefix, kind, now.0, now.1)
            ),
        });
    }
}

/// A range's bounds as rules: `` `int32.gt = 10`, `int32.lt = 0` ``; empty without any.
fn range_text(t: Option<&TypedRules>, prefix: &str) -> String {
    let Some(t) = t else { return String::new() };
    let parts: Vec<String> = t
        .rules
        .iter()
        .filter(|(n, _)| matches!(n.as_str(), "lt" | "lte" | "gt" | "gte"))
        .map(|(n, v)| format!("`{}`", rule_line(prefix, &t.kind, n, v)))
        .collect();
    parts.join(", ")
}

/// `(buf.validate.oneof).required` turned on, and `(buf.validate.message).oneof`
/// rules that the old ones did not already imply.
pub(super) fn oneofs(before: &Message, after: &Message) -> Vec<String> {
    let owner = &after.full_name;
    let mut out = Vec::new();
    for oneof in after.oneofs.iter().filter(|o| o.required) {
        if !before.oneofs.iter().any(|o| o.name == oneof.name && o.required) {
            out.push(format!(
                "oneof `{}` of `{owner}` became required (`(buf.validate.oneof).required`): requests that set \
                 none of its fields are refused now",
                oneof.name
            ));
        }
    }
    for e in added_custom(&before.custom_rules, &after.custom_rules) {
        out.push(format!("`(buf.validate.message).cel` rule `{e}` was added to `{owner}`: {REFUSED}"));
    }
    for rule in &after.oneof_rules {
        if implied(&before.oneof_rules, rule) {
            continue;
        }
        let fields = rule.fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
        let what = if rule.required { "exactly one" } else { "at most one" };
        out.push(format!("`(buf.validate.message).oneof` of `{owner}` now allows {what} of {fields}: {REFUSED}"));
    }
    out
}

/// The expressions of custom rules in `new` that `old` lacks: CEL cannot be
/// compared, so any new expression may refuse what passed.
fn added_custom<'a>(old: &'a CustomRules, new: &'a CustomRules) -> impl Iterator<Item = &'a str> {
    new.all().map(|(_, _, e)| e).filter(move |e| !old.all().any(|(_, _, o)| o == *e))
}

/// Whether the old rules already refused everything `rule` refuses: some old
/// rule allows at most one of a superset of its fields, and when `rule` is
/// required, some old required rule asks for one of a subset of them.
fn implied(old: &[MessageOneofRule], rule: &MessageOneofRule) -> bool {
    let subset = |a: &[String], b: &[String]| a.iter().all(|f| b.contains(f));
    let at_most_one = old.iter().any(|o| subset(&rule.fields, &o.fields));
    let at_least_one = !rule.required || old.iter().any(|o| o.required && subset(&o.fields, &rule.fields));
    at_most_one && at_least_one
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(kind: &str, set: &[(&str, RuleValue)]) -> FieldRules {
        FieldRules {
            typed: Some(TypedRules {
                kind: kind.into(),
                rules: set.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect(),
                items: None,
                values: None,
            }),
            ..FieldRules::default()
        }
    }

    fn found(old: &FieldRules, new: &FieldRules) -> Vec<String> {
        field(Some(old), Some(new), "m.F.f")
    }

    #[test]
    fn exact_bounds_compare_as_inclusive() {
        use RuleValue::Int;
        let lte = |n| typed("int32", &[("lte", Int(n))]);
        let lt = |n| typed("int32", &[("lt", Int(n))]);
        assert!(found(&lte(9), &lt(10)).is_empty(), "the same range");
        assert!(found(&lt(10), &lte(9)).is_empty(), "the same range");
        assert_eq!(found(&lte(10), &lt(10)).len(), 1, "10 is refused now");
        assert!(found(&lte(10), &lte(11)).is_empty(), "raised: looser");
        let gte = |n| typed("int32", &[("gte", Int(n))]);
        assert_eq!(found(&gte(1), &gte(2)).len(), 1);
        assert!(found(&gte(2), &gte(1)).is_empty());
    }

    #[test]
    fn float_bounds_keep_exclusiveness() {
        use RuleValue::Float;
        let lte = typed("double", &[("lte", Float(1.5))]);
        let lt = typed("double", &[("lt", Float(1.5))]);
        assert_eq!(found(&lte, &lt).len(), 1);
        assert!(found(&lt, &lte).is_empty());
    }

    #[test]
    fn excluded_ranges_report_any_change() {
        use RuleValue::Int;
        let outside = |hi, lo| typed("int64", &[("lt", Int(hi)), ("gt", Int(lo))]);
        assert_eq!(
            found(&outside(0, 10), &outside(0, 20)),
            ["the range of `m.F.f` went from `int64.lt = 0`, `int64.gt = 10` to `int64.lt = 0`, `int64.gt = 20`: \
             requests valid before are refused now"]
        );
        assert!(found(&outside(0, 10), &outside(0, 10)).is_empty());
    }

    #[test]
    fn message_oneof_rules_imply_narrower_ones() {
        let rule = |fields: &[&str], required| MessageOneofRule {
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            required,
        };
        assert!(implied(&[rule(&["a", "b", "c"], false)], &rule(&["a", "b"], false)));
        assert!(!implied(&[rule(&["a", "b"], false)], &rule(&["a", "b", "c"], false)));
        assert!(!implied(&[rule(&["a", "b"], false)], &rule(&["a", "b"], true)));
        assert!(!implied(&[rule(&["a", "b"], true)], &rule(&["a", "b", "c"], false)), "a and c together");
        assert!(implied(&[rule(&["a", "b", "c"], false), rule(&["a"], true)], &rule(&["a", "b"], true)));
    }
}
