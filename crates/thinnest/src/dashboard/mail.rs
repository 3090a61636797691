//! Mail from the dashboard: emailed links and notices. Each message spends budgets of
//! its recipient first, so that nobody can use us to flood an inbox: at most 3 an hour
//! that strangers can cause (sign-up, forgot password), and at most 10 an hour in all.
//! Strangers have a budget of their own so that they cannot use up the one that carries
//! invitations and security notices.

use crate::AppState;
use crate::auth::token::Token;
use crate::ratelimit::Mode;

const HOUR_MS: i64 = 3_600_000;
/// Messages an hour to one address that anyone, signed in or not, can cause.
const FROM_OUTSIDERS_PER_HOUR: u32 = 3;
/// Messages an hour to one address, whatever caused them.
const IN_ALL_PER_HOUR: u32 = 10;

/// Who caused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailCause {
    /// A form anyone can post (sign-up, forgot password).
    Outsider,
    /// A signed-in member, or the server acting for the account (invitations,
    /// security notices, a disabled webhook endpoint).
    Account,
}

/// Spends the recipient's budgets for one message; false when a budget is spent, and
/// then nothing should be stored or sent for it.
pub async fn may_mail(state: &AppState, cause: MailCause, to: &str) -> bool {
    let to = to.to_lowercase();
    let outsider = (cause == MailCause::Outsider)
        .then(|| (format!("mail-outsider:{to}"), FROM_OUTSIDERS_PER_HOUR));
    let budgets = [outsider, Some((format!("mail-to:{to}"), IN_ALL_PER_HOUR))];
    for (budget, limit) in budgets.into_iter().flatten() {
        let decision = state
            .limiter
            .decide_over(&budget, limit, HOUR_MS, Mode::Take)
            .await;
        if !decision.allowed {
            tracing::warn!(recipient = %to, "a recipient's mail budget is spent: message not sent");
            return false;
        }
    }
    true
}

/// Emails `to` a link to `path` on this server, carrying `token` after `#`. Links are
/// built from the configured address, never from the request. The caller has spent
/// the recipient's budget with [`may_mail`].
pub fn mail_link(state: &AppState, to: &str, subject: &str, text: &str, path: &str, token: &Token) {
    let body = format!(
        "{text}\n\n{}{path}#token={}\n\nIf you did not expect this message, ignore it.\n",
        state.link_base(),
        token.expose()
    );
    deliver(state, to, subject, body);
}

/// Tells `to` about a change to their account, with a pointer to the security page.
pub async fn notify(state: &AppState, to: &str, subject: &str, text: &str) {
    let body = format!(
        "{text}\n\nIf this was not you, reset your password and review your sign-in methods:\n{}/app/settings/security\n",
        state.link_base()
    );
    send_mail(state, MailCause::Account, to, subject, body).await;
}

/// Sends a message, within the recipient's budgets.
pub async fn send_mail(state: &AppState, cause: MailCause, to: &str, subject: &str, text: String) {
    if may_mail(state, cause, to).await {
        deliver(state, to, subject, text);
    }
}

/// Sends off the response path, so an answer takes as long whether or not a message
/// went out.
fn deliver(state: &AppState, to: &str, subject: &str, text: String) {
    let email = crate::email::Email {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text,
    };
    let mailer = state.mailer.clone();
    tokio::spawn(async move {
        if let Err(e) = mailer.send(email).await {
            tracing::error!(error = %format!("{e:#}"), "could not send an email");
        }
    });
}
