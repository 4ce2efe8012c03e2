//! A grant as one value: the route flags and the body switches a connection's requests are judged
//! by. It is chosen once per connection, before the connection's first request, and held as
//! `Arc<Profile>` in the connection's state: today every connection gets the environment's; a
//! grant per client chooses among several in [`crate::proxy::Proxy::profile_for`] without
//! touching the request walk. Limits (`MAX_BODY`, `MAX_CONNECTIONS`) are not grants and stay apart.

use crate::inspect::BodyPolicy;
use crate::policy::Policy;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The routes it opens.
    pub policy: Policy,
    /// What request bodies may ask for on them.
    pub body: BodyPolicy,
}
