//! Field checks that report every problem of a request at once.

use std::collections::BTreeMap;

/// The problems of a request, per field, and a sentence that lists them.
#[derive(Debug)]
pub struct Invalid {
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

#[derive(Default)]
pub struct Check {
    fields: BTreeMap<String, String>,
}

impl Check {
    pub fn new() -> Check {
        Check::default()
    }

    pub fn fail(&mut self, field: &str, problem: impl Into<String>) {
        self.fields
            .entry(field.to_owned())
            .or_insert_with(|| problem.into());
    }

    /// Text of `min..=max` characters, without NUL (which PostgreSQL cannot store).
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) {
        if value.contains('\0') {
            self.fail(field, "must not contain NUL characters");
            return;
        }
        let len = value.chars().count();
        if len < min {
            self.fail(
                field,
                if min == 1 {
                    "must not be empty".to_owned()
                } else {
                    format!("must be at least {min} characters")
                },
            );
        } else if len > max {
            self.fail(field, format!("must be at most {max} characters"));
        }
    }

    pub fn finish(self) -> Result<(), Invalid> {
        if self.fields.is_empty() {
            return Ok(());
        }
        let message = self
            .fields
            .iter()
            .map(|(field, problem)| format!("{field} {problem}"))
            .collect::<Vec<_>>()
            .join("; ");
        Err(Invalid {
            message: format!("The request is invalid: {message}."),
            fields: self.fields,
        })
    }
}
