//! Outgoing email: SMTP through lettre when `--smtp-url` is set; otherwise each
//! message is written to `<data-dir>/outbox/` as an `.eml` file, so that a laptop
//! user can open it. Links in messages carry their token after `#`, where it is
//! never sent to a server, logged or kept in a proxy's history.
//!
//! The outbox holds live links, so only its owner can read it (directory 0700,
//! files 0600), and it holds at most [`OUTBOX_LIMIT`] messages: past that, messages
//! are refused and the refusal logged, so that nobody can fill the disk through it.

use crate::domain::ids::MailId;
use std::path::{Path, PathBuf};

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A message to one person.
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Messages the outbox directory may hold; delete read ones to make room.
pub const OUTBOX_LIMIT: usize = 1000;

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
                let path = dir.join(format!("{}.eml", String::from(MailId::new())));
                write_private(dir, &path, message.formatted()).await?;
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

/// Writes one message into the outbox, readable by the owner only, unless the outbox
/// is full.
async fn write_private(dir: &Path, path: &Path, bytes: Vec<u8>) -> anyhow::Result<()> {
    let (dir, path) = (dir.to_owned(), path.to_owned());
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        #[cfg(unix)]
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let held = std::fs::read_dir(&dir)?.count();
        if held >= OUTBOX_LIMIT {
            anyhow::bail!(
                "the outbox {} holds {held} messages, its limit: message refused (delete read messages, or set --smtp-url)",
                dir.display()
            );
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path)?.write_all(&bytes)?;
        Ok(())
    })
    .await?
}
