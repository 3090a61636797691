//! `thinnest bootstrap`: the first account, its first Admin and a full-access key.

use anyhow::bail;

use crate::domain::actors::Actor;
use crate::domain::people::normalise_email;
use crate::domain::roles::Role;
use crate::secrets::api_key::ApiKey;
use crate::store::Store;
use crate::store::api_keys::NewKey;

/// What bootstrap made or found.
pub struct Bootstrapped {
    pub account_id: String,
    pub key_id: String,
    pub email: String,
    pub user_id: String,
    pub key: ApiKey,
}

/// Finds or creates the user and the account (an account of which the user is
/// Admin, by name), then issues a new admin key.
pub async fn bootstrap(
    store: &Store,
    email: &str,
    account_name: &str,
) -> anyhow::Result<Bootstrapped> {
    let email = normalise_email(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let account_name = account_name.trim();
    if account_name.is_empty() {
        bail!("the account name must not be empty");
    }
    let user_id = store.user_by_email_or_create(&email).await?;
    let account_id = match store.admin_account_named(&user_id, account_name).await? {
        Some(id) => id,
        None => store.create_account(account_name, &user_id).await?,
    };
    let (key, new) = NewKey::mint("bootstrap", Role::Admin, &user_id, None, None);
    let actor = Actor::operator("thinnest bootstrap");
    let row = store
        .insert_key(&account_id, &new, &actor)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the bootstrap key was not stored"))?;
    Ok(Bootstrapped {
        account_id,
        key_id: row.id,
        email,
        user_id,
        key,
    })
}
