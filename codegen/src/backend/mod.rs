//! Backends: each turns the model (and, for message types, the descriptors)
//! into code for one target. Each has a folder in `templates/` when it uses
//! templates, and a module in `apigen-runtime` for its run-time needs.

pub mod descriptor;
pub mod graphql;
pub mod input;
pub mod json;
pub mod openapi;
pub mod portal;
pub mod rules_doc;
pub mod service;
pub mod ts;
pub mod ts_validate;
pub mod types;
pub mod validate;

/// Rust doc attributes for comment lines, with code blocks marked `text` so
/// that they never run as doctests.
pub fn doc_attrs(lines: &[String]) -> String {
    let mut out = String::new();
    let mut in_fence = false;
    let mut in_indented = false;
    let mut prev_blank = true;
    let push = |line: &str, out: &mut String| {
        out.push_str(&format!("#[doc = {:?}]\n", format!(" {line}").trim_end()));
    };
    for line in lines {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            if in_indented {
                push("```", &mut out);
                in_indented = false;
            }
            push(if in_fence { "```" } else { "```text" }, &mut out);
            in_fence = !in_fence;
        } else if !in_fence && line.starts_with("    ") && (prev_blank || in_indented) {
            if !in_indented {
                push("```text", &mut out);
                in_indented = true;
            }
            push(&line[4..], &mut out);
        } else {
            if in_indented && !line.trim().is_empty() {
                push("```", &mut out);
                in_indented = false;
            }
            push(line, &mut out);
        }
        prev_blank = line.trim().is_empty();
    }
    if in_fence || in_indented {
        push("```", &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::doc_attrs;

    #[test]
    fn code_blocks_become_text() {
        let lines: Vec<String> =
            ["Example:", "", "    let x = 1;", "", "```rust", "y()", "```"].iter().map(|s| s.to_string()).collect();
        let out = doc_attrs(&lines);
        assert!(out.contains("#[doc = \" ```text\"]\n#[doc = \" let x = 1;\"]"), "{out}");
        assert!(out.contains("#[doc = \" ```text\"]\n#[doc = \" y()\"]"), "{out}");
        assert!(!out.contains("rust"), "{out}");
    }
}
