//! dockgate: a Docker socket proxy that explains its decisions.
//!
//! Clients talk to dockgate as they would to the engine (`DOCKER_HOST=tcp://dockgate:2375`);
//! dockgate forwards what the Tecnativa-compatible variables allow to the engine's unix socket and
//! refuses the rest with a Docker-shaped error that names the variable to set.
//!
//! The walk of one request, module by module:
//!
//! - [`server`]: binds listeners, accepts connections, serves HTTP/1 with upgrades, and shuts
//!   down gracefully.
//! - [`head`]: checks each request head's bytes before hyper parses them (bare CR/LF).
//! - [`session`]: a connection's client, worked out once, and the grant it has now (looked up
//!   again only after a reload or a container change).
//! - [`clients`]: identities and the rules that give them profiles; pure.
//! - [`directory`]: the containers behind client addresses, kept current from engine events.
//! - [`proxy`]: checks framing and the target, asks the policy, forwards, streams the response.
//! - [`api`]: the Docker API's routes as data, and the canonical form of a request target.
//! - [`profile`]: a grant (route flags + body switches) and its effective form.
//! - [`presets`]: built-in profiles for the clients people run, read from their source.
//! - [`policy`]: granted variables + route → allow, or refusal with the fix. Pure.
//! - [`inspect`]: request bodies and queries that decide privilege (privileged, host mounts...),
//!   judged as the engine reads them, with what they borrow from other objects.
//! - [`engine_facts`]: asks the engine about its defaults and about the objects a request
//!   borrows from.
//! - [`refusal`]: one refusal, rendered in the engine's error shape in one place.
//! - [`needs`]: what would allow a refused request, as data.
//! - [`upstream`]: each client connection's HTTP/1 connection to the engine's unix socket.
//! - [`tunnel`]: upgraded connections (attach, exec), relayed with half-close.
//! - [`access`]: one log record per request, written in one place when the request ends.
//! - [`telemetry`]: what else hears of each finished request.
//! - [`learn`]: per client, what its grant refused and the smallest grant that would allow it
//!   (`MODE=warn|learn` forwards those requests).
//! - [`audit`]: that record as the JSON audit log's object (`LOG_FORMAT=json`).
//! - [`log_format`]: text or JSON lines, and the subscriber that writes them.
//! - [`log_output`]: log lines to stderr, batched while busy.
//! - [`config`]: environment, flags and the config file → a validated [`config::Config`].
//! - [`reload`]: the config file read again on SIGHUP or change, put in force only if valid.
//! - [`metrics`]: the counters ADMIN_LISTEN's [`admin`] endpoint serves, with [`engine_probe`]
//!   pinging the engine for `/readyz`.
//!
//! Around it, for running without root:
//!
//! - [`privilege`]: the Docker socket's ownership, dropping to an unprivileged user, and the
//!   one-line explanation when a process cannot reach the socket.
//! - [`exec`]: `dockgate exec`, the entrypoint helper that runs a command as a user with the
//!   socket's group.
//! - [`limits`]: raises the open-file limit at start-up.
//! - [`health`]: `dockgate healthcheck`, for images with no shell.
//! - [`explain`]: `dockgate explain`, one request judged offline by the proxy's own decision
//!   code, with the grant that decided or the change that would allow it.
//!
//! No `unsafe` anywhere: privilege changes and resource limits go through nix's safe wrappers,
//! and `dockgate exec` hands the command its environment through `Command` rather than changing
//! the process's own.

#![forbid(unsafe_code)]

pub mod access;
pub mod admin;
pub mod api;
pub mod audit;
pub mod clients;
pub mod config;
pub mod directory;
pub mod engine_facts;
pub mod engine_probe;
pub mod exec;
pub mod explain;
pub mod head;
pub mod health;
pub mod inspect;
pub mod learn;
pub mod limits;
pub mod log_format;
pub mod log_output;
pub mod metrics;
pub mod needs;
pub mod policy;
pub mod presets;
pub mod privilege;
pub mod profile;
pub mod proxy;
pub mod refusal;
pub mod reload;
pub mod server;
pub mod session;
pub mod telemetry;
pub mod tunnel;
pub mod upstream;
