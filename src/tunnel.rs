//! Upgraded connections (attach, exec, BuildKit sessions): bytes both ways, each direction closed
//! on its own so half-closed stdin still lets the output through.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Byte counts of a finished tunnel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transferred {
    pub from_client: u64,
    pub from_engine: u64,
}

/// Waits for both sides to finish upgrading, then relays until both directions have ended.
///
/// `copy_bidirectional` shuts down each write side when its read side ends, which is the
/// half-close `echo hi | docker exec -i c cat` depends on.
pub async fn relay(client: OnUpgrade, engine: OnUpgrade) -> std::io::Result<Transferred> {
    let (client, engine) = tokio::try_join!(client, engine).map_err(std::io::Error::other)?;
    let (mut client, mut engine) = (TokioIo::new(client), TokioIo::new(engine));
    let (from_client, from_engine) =
        tokio::io::copy_bidirectional(&mut client, &mut engine).await?;
    Ok(Transferred {
        from_client,
        from_engine,
    })
}
