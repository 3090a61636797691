//! Outgoing email: SMTP through lettre when `--smtp-url` is set; otherwise each
//! message is written to `<data-dir>/outbox/` as an `.eml` file, so that a laptop
//! user can open it. Links in messages carry their token after `#`, where it is
//! never sent to a server, logged or kept in a proxy's history.

use std::path::PathBuf;

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A message to one person.
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Outbox {
        dir: PathBuf,
        from: Mailbox,
    },
}

impl Mailer {
    /// SMTP when `smtp_url` is given (`smtp://host:port`, `smtps://…`,
    /// `smtp://user:pass@host:587?tls=required`), else the outbox directory.
    pub fn new(smtp_url: Option<&str>, from: &str, outbox: PathBuf) -> anyhow::Result<Mailer> {
        let from: Mailbox = from.parse().context("--email-from is not an address")?;
        Ok(match smtp_url {
            Some(url) => Mailer::Smtp {
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("invalid --smtp-url: {e}"))?
                    .build(),
                from,
            },
            None => Mailer::Outbox { dir: outbox, from },
        })
    }

    fn message(from: &Mailbox, email: &Email) -> anyhow::Result<Message> {
        Message::builder()
            .from(from.clone())
            .to(email.to.parse().context("not an email address")?)
            .subject(&email.subject)
            .body(email.text.clone())
            .context("cannot build the message")
    }

    pub async fn send(&self, email: Email) -> anyhow::Result<()> {
        match self {
            Mailer::Smtp { transport, from } => {
                transport
                    .send(Mailer::message(from, &email)?)
                    .await
                    .context("the SMTP server refused the message")?;
            }
            Mailer::Outbox { dir, from } => {
                let message = Mailer::message(from, &email)?;
                tokio::fs::create_dir_all(dir).await?;
                let path = dir.join(format!("{}.eml", crate::ids::new_id("mail")));
                tokio::fs::write(&path, message.formatted()).await?;
                tracing::info!(
                    "no SMTP server configured: the message to {} is in {}",
                    email.to,
                    path.display()
                );
            }
        }
        Ok(())
    }
}
