//! Billing operations the API and the dashboard share: the billing view and the
//! billing contact.

use std::collections::BTreeMap;

use crate::domain::actors::Actor;
use crate::domain::billing::{Billing, MeteredUsage, Period, SELF_HOSTED, billing_address};
use crate::domain::fields::Check;
use crate::domain::time::{month_bounds, now_ms, rfc3339};
use crate::error::Result;
use crate::store::Store;

/// The account's billing view, as the API and the dashboard show it.
pub async fn billing(store: &Store, account_id: &str) -> Result<Billing> {
    let (start, end) = month_bounds(now_ms());
    let mut by_class = BTreeMap::new();
    for row in store.usage(account_id, start, end).await? {
        *by_class.entry(row.class).or_insert(0) += row.count;
    }
    Ok(Billing {
        plan: SELF_HOSTED.to_owned(),
        billing_email: store.billing_email(account_id).await?,
        period: Period {
            start: rfc3339(start),
            end: rfc3339(end),
        },
        usage: MeteredUsage {
            requests: by_class.values().sum(),
            by_class,
        },
    })
}

/// Sets the billing contact, or clears it with `None`; an address that is not one
/// is refused (`Error::Invalid`, on `billing_email`) and nothing changes.
pub async fn set_contact(
    store: &Store,
    account_id: &str,
    email: Option<&str>,
    actor: &Actor,
) -> Result<()> {
    let mut check = Check::new();
    let email = billing_address(&mut check, email);
    check.finish()?;
    store
        .set_billing_email(account_id, email.as_deref(), actor)
        .await?;
    Ok(())
}
