//! The `apply_patch` tool: how the model edits files, in the patch language it was trained to
//! write (`*** Begin Patch` … `*** End Patch`).
//!
//! Editing goes in three steps so that nothing is written before it has been checked and
//! approved: [`parse_patch`] turns the text into [`Hunk`]s, [`verify_patch`] resolves them
//! against the working directory and computes every new file content without writing, and
//! [`VerifiedPatch::apply`] writes. [`extract_patch_from_shell`] spots a patch smuggled through
//! the shell tool so it takes the same road.

mod apply;
mod error;
mod invocation;
mod parser;
mod pinned_write;
mod seek_sequence;

pub use apply::VerifiedPatch;
pub use apply::verify_patch;
pub use error::ApplyPatchError;
pub use invocation::extract_patch_from_shell;
pub use parser::Hunk;
pub use parser::UpdateFileChunk;
pub use parser::parse_patch;
pub(crate) use pinned_write::hard_link_count;
pub(crate) use pinned_write::resolve_links;

#[cfg(test)]
mod tests;
