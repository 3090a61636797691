//! Secrets the server must read back (webhook signing secrets, later OAuth tokens)
//! are stored sealed: AES-256-GCM with a random nonce, the row they belong to bound
//! as associated data, under one key per installation.
//!
//! The key comes from `--encryption-key` (base64 of 32 bytes; every instance of an
//! installation must share it), or else from `<data-dir>/encryption.key`, generated
//! on first start with owner-only permissions.

use std::path::Path;

use aes_gcm::aead::{Aead, Generate, Key, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const VERSION: &str = "v1.";
const NONCE_LEN: usize = 12;

pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(…)")
    }
}

impl Sealer {
    /// The configured key, or the data directory's key file (made if missing).
    pub fn load(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Sealer> {
        let text = match configured {
            Some(key) => key.to_owned(),
            None => key_file(&data_dir.join("encryption.key"))?,
        };
        let bytes = STANDARD
            .decode(text.trim())
            .context("the encryption key is not base64")?;
        if bytes.len() != 32 {
            bail!(
                "the encryption key must be 32 bytes (base64), got {}",
                bytes.len()
            );
        }
        let key = Key::<Aes256Gcm>::try_from(bytes.as_slice())
            .context("the encryption key must be 32 bytes")?;
        Ok(Sealer {
            cipher: Aes256Gcm::new(&key),
        })
    }

    /// Seals `plaintext` for the row named by `context`.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> anyhow::Result<String> {
        let nonce = Nonce::generate();
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(&nonce, payload)
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", STANDARD.encode(out)))
    }

    /// Opens what [`Sealer::seal`] made for the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> anyhow::Result<Vec<u8>> {
        let bytes = sealed
            .strip_prefix(VERSION)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .context("not a sealed value")?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).context("bad nonce")?;
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        self.cipher.decrypt(&nonce, payload).map_err(|_| {
            anyhow::anyhow!("a sealed value does not open: another encryption key, or another row")
        })
    }
}

/// Reads the key file, or writes a new random key to it (readable by the owner only).
fn key_file(path: &Path) -> anyhow::Result<String> {
    if path.exists() {
        return std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = STANDARD.encode(Key::<Aes256Gcm>::generate());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    tracing::info!(
        "generated the encryption key {}: back it up",
        path.display()
    );
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        let key = STANDARD.encode([7u8; 32]);
        Sealer::load(Some(&key), Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn sealed_values_open_only_for_their_row() {
        let s = sealer();
        let sealed = s.seal(b"whsec_abc", "account:1").unwrap_or_default();
        assert!(!sealed.contains("whsec"));
        assert_eq!(
            s.open(&sealed, "account:1").unwrap_or_default(),
            b"whsec_abc"
        );
        assert!(s.open(&sealed, "account:2").is_err());
        // A fresh nonce every time.
        assert_ne!(
            sealed,
            s.seal(b"whsec_abc", "account:1").unwrap_or_default()
        );
    }

    #[test]
    fn a_key_of_the_wrong_size_is_refused() {
        let short = STANDARD.encode([1u8; 16]);
        assert!(Sealer::load(Some(&short), Path::new(".")).is_err());
        assert!(Sealer::load(Some("not base64!"), Path::new(".")).is_err());
    }
}
