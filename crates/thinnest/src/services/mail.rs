//! Mail from the dashboard: emailed links and notices. Each message spends budgets of
//! its recipient first, so that nobody can use us to flood an inbox, and each cause has
//! a budget of its own, so that no cause can use up another's: at most 3 messages an
//! hour that strangers cause (sign-up, forgot password), 3 invitations (and 30 an hour
//! from one workspace), and 10 notices about the account itself.

use crate::ratelimit::Mode;
use crate::secrets::token::Token;
use crate::state::AppState;

const HOUR_MS: i64 = 3_600_000;
/// Messages an hour to one address that anyone, signed in or not, can cause.
const FROM_STRANGERS_PER_HOUR: u32 = 3;
/// Invitations an hour to one address, and from one workspace to anyone.
const INVITATIONS_PER_HOUR: u32 = 3;
const INVITATIONS_FROM_A_WORKSPACE_PER_HOUR: u32 = 30;
/// Notices an hour to one address (a sign-in method connected, an endpoint disabled).
const NOTICES_PER_HOUR: u32 = 10;

/// Who caused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailCause<'a> {
    /// A form anyone can post (sign-up, forgot password).
    Stranger,
    /// An Admin of this workspace invited the address.
    Invitation { account: &'a str },
    /// Something happened to the recipient's own account or workspace.
    Notice,
}

/// Spends the budgets of one message; false when one is spent, and then nothing should
/// be stored or sent for it.
pub async fn may_mail(state: &AppState, cause: MailCause<'_>, to: &str) -> bool {
    let to = to.to_lowercase();
    let budgets = match cause {
        MailCause::Stranger => [
            Some((format!("mail-stranger:{to}"), FROM_STRANGERS_PER_HOUR)),
            None,
        ],
        MailCause::Invitation { account } => [
            Some((
                format!("mail-invitations-from:{account}"),
                INVITATIONS_FROM_A_WORKSPACE_PER_HOUR,
            )),
            Some((format!("mail-invitation:{to}"), INVITATIONS_PER_HOUR)),
        ],
        MailCause::Notice => [Some((format!("mail-notice:{to}"), NOTICES_PER_HOUR)), None],
    };
    for (budget, limit) in budgets.into_iter().flatten() {
        let decision = state
            .limiter
            .decide_over(&budget, limit, HOUR_MS, Mode::Take)
            .await;
        if !decision.allowed {
            tracing::warn!(recipient = %to, ?cause, "a mail budget is spent: message not sent");
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
    send_mail(state, MailCause::Notice, to, subject, body).await;
}

/// Sends a message, within the recipient's budgets.
pub async fn send_mail(
    state: &AppState,
    cause: MailCause<'_>,
    to: &str,
    subject: &str,
    text: String,
) {
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
