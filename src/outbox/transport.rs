//! Where composed emails go. The embedded default writes `.eml` files with
//! lettre's file transport; SMTP joins as another variant. Every failure is
//! classed [`SendError::Transient`] (retry later) or
//! [`SendError::Permanent`] (give up), which is all the outbox needs.

use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("temporary failure: {0}")]
    Transient(String),
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// A configured transport.
pub enum Transport {
    /// `.eml` files in a folder, each synced to disk before it counts as sent.
    File {
        dir: PathBuf,
        inner: AsyncFileTransport<Tokio1Executor>,
    },
}

impl Transport {
    pub fn file(dir: PathBuf) -> std::io::Result<Transport> {
        std::fs::create_dir_all(&dir)?;
        Ok(Transport::File {
            inner: AsyncFileTransport::new(&dir),
            dir,
        })
    }

    /// Sends one message; returns a transport id (file name, queue id).
    pub async fn send(&self, message: Message) -> Result<String, SendError> {
        match self {
            Transport::File { dir, inner } => {
                let id = inner
                    .send(message)
                    .await
                    .map_err(|e| SendError::Transient(e.to_string()))?;
                let path = dir.join(format!("{id}.eml"));
                tokio::task::spawn_blocking(move || std::fs::File::open(&path)?.sync_all())
                    .await
                    .map_err(|e| SendError::Transient(e.to_string()))?
                    .map_err(|e| SendError::Transient(format!("sync: {e}")))?;
                Ok(id)
            }
        }
    }
}
