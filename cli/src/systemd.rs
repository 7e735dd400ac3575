//! Readiness for systemd (`Type=notify`): a service tells its manager it is ready once it listens
//! and answers, and that it is stopping when it begins to shut down. Only when the manager asked
//! for it by setting `NOTIFY_SOCKET`; elsewhere (a terminal, a container) this does nothing.

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!("could not tell the service manager (NOTIFY_SOCKET): {e}");
    }
}

/// The service is ready: it listens and answers. `status` is shown by `systemctl status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// The service has begun to shut down.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}
