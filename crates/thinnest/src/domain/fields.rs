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

/// A text field's limits, declared once: [`Check::field`] enforces them and
/// [`TextField::schema`] shows them in the OpenAPI document
/// (`#[schema(schema_with = AgentName::schema)]`), so the two cannot disagree.
pub trait TextField {
    const MIN: usize;
    const MAX: usize;
    /// Must hold more than whitespace; checked, and stored, trimmed.
    const NON_BLANK: bool;
    /// What the field holds, for the OpenAPI document.
    const DESCRIPTION: &'static str;

    /// The schema of a required field.
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        text_schema::<Self>(utoipa::openapi::schema::Type::String.into())
    }

    /// The schema of a field that may be absent or null.
    fn nullable_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{SchemaType, Type};
        text_schema::<Self>(SchemaType::from_iter([Type::String, Type::Null]))
    }

    /// The value as stored: trimmed when the field must not be blank.
    fn stored(value: String) -> String {
        if Self::NON_BLANK {
            value.trim().to_owned()
        } else {
            value
        }
    }
}

fn text_schema<F: TextField + ?Sized>(
    kind: utoipa::openapi::schema::SchemaType,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let pattern = if F::NON_BLANK {
        r"^[^\x00]*\S[^\x00]*$"
    } else {
        r"^[^\x00]*$"
    };
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(kind)
        .description(Some(F::DESCRIPTION.trim()))
        .min_length((F::MIN > 0).then_some(F::MIN))
        .max_length(Some(F::MAX))
        .pattern(Some(pattern))
        .into()
}

/// Declares text fields, one a line: `Name: 1..=200, non_blank;` or `Name: 0..=2000;`.
#[macro_export]
macro_rules! text_fields {
    ($($(#[doc = $doc:literal])* $name:ident: $min:literal..=$max:literal $(, $blank:ident)?;)+) => {$(
        $(#[doc = $doc])*
        pub struct $name;

        impl $crate::domain::fields::TextField for $name {
            const MIN: usize = $min;
            const MAX: usize = $max;
            const NON_BLANK: bool = $crate::text_fields!(@blank $($blank)?);
            const DESCRIPTION: &'static str = concat!($($doc),*);
        }
    )+};
    (@blank non_blank) => { true };
    (@blank) => { false };
}

impl Check {
    /// Checks `value` against the limits of the field type `F`.
    pub fn field<F: TextField>(&mut self, field: &str, value: &str) {
        let value = if F::NON_BLANK { value.trim() } else { value };
        self.text(field, value, F::MIN, F::MAX);
    }
}
