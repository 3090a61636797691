//! Billing: the account's plan, this month's metered usage and the billing contact.
//!
//! A self-hosted server charges nothing: the plan is `self_hosted` and there are no
//! invoices. What is metered is what an operator would bill on.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::fields::Check;
use crate::domain::people::normalise_email;

/// The only plan a self-hosted server has.
pub const SELF_HOSTED: &str = "self_hosted";

#[derive(Debug, Serialize, ToSchema)]
pub struct Period {
    /// The first instant of the current calendar month (UTC).
    pub start: String,
    /// The first instant of the next month.
    pub end: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeteredUsage {
    /// Authenticated requests this period, whatever their outcome.
    pub requests: i64,
    /// The same, per rate-limit class.
    pub by_class: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Billing {
    /// `self_hosted`: this server charges nothing.
    pub plan: String,
    /// Where billing messages go; null until set.
    pub billing_email: Option<String>,
    pub period: Period,
    pub usage: MeteredUsage,
}

/// Checks a billing address as sign-up does; `None` clears it.
pub fn billing_address(check: &mut Check, email: Option<&str>) -> Option<String> {
    let email = email?;
    match normalise_email(email) {
        Ok(email) if email.len() <= 254 => Some(email),
        _ => {
            check.fail(
                "billing_email",
                "must be an email address such as billing@example.com",
            );
            None
        }
    }
}
