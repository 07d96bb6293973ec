//! The command line around the server: signing in from a terminal, the flags of the server we
//! replace, and handing OpenAI's CLI its own commands.

pub(crate) mod legacy_flags;
pub(crate) mod login;
pub(crate) mod passthrough;
