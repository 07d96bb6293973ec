//! Images the model looks at: `view_image` attaches a local image to the conversation, and the
//! images a user sends with a prompt go the same way. Either becomes an `input_image` part, a
//! `data:` URL, in a user message.
//!
//! Reading follows the sandbox's rules for reading, which allow every file the server may read;
//! only files that are images by their extension and at most [`MAX_IMAGE_BYTES`] are sent.

use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use crate::tools::context::ToolOutput;
use crate::tools::context::TurnContext;

pub(crate) const VIEW_IMAGE_TOOL_NAME: &str = "view_image";

/// Larger images are refused: providers cap them about here, and a data URL of this size is
/// already a large history item.
const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;

pub(crate) fn view_image_tool_spec() -> serde_json::Value {
    json!({
        "type": "function",
        "name": VIEW_IMAGE_TOOL_NAME,
        "description": "Attaches a local image (by path) to the conversation, so you can look at it.",
        "strict": false,
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "Path of an image file (png, jpeg, gif or webp), relative to the working directory or absolute"}
            },
            "required": ["path"],
            "additionalProperties": false
        }
    })
}

#[derive(Debug, Deserialize)]
struct ViewImageArgs {
    path: String,
}

pub(crate) async fn handle_view_image(turn: &TurnContext<'_>, arguments: &str) -> ToolOutput {
    let args: ViewImageArgs = match serde_json::from_str(arguments) {
        Ok(args) => args,
        Err(err) => return ToolOutput::text(format!("failed to parse function arguments: {err}")),
    };
    let path = turn.config().cwd.join(&args.path);
    match read_image(&path).await {
        Ok(data_url) => ToolOutput {
            output: format!("attached local image {}", path.display()),
            abort_turn: false,
            images: vec![data_url],
        },
        Err(err) => ToolOutput::text(err),
    }
}

/// The image at `path` as a `data:` URL, read on the blocking pool; the error says why not.
pub(crate) async fn read_image(path: &Path) -> Result<String, String> {
    let shown = path.display().to_string();
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || image_data_url(&path))
        .await
        .map_err(|err| format!("cannot read image {shown}: {err}"))?
}

fn image_data_url(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let mime = match path
        .extension()
        .and_then(|ext| ext.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => return Err(format!("{shown} is not an image (png, jpeg, gif or webp)")),
    };
    let size = std::fs::metadata(path)
        .map_err(|err| format!("cannot read image {shown}: {err}"))?
        .len();
    if size > MAX_IMAGE_BYTES {
        return Err(format!(
            "image {shown} is {size} bytes, more than the {MAX_IMAGE_BYTES} allowed"
        ));
    }
    let bytes = std::fs::read(path).map_err(|err| format!("cannot read image {shown}: {err}"))?;
    Ok(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn images_become_data_urls_and_the_rest_is_refused_with_a_reason() {
        let dir = tempfile::TempDir::new().unwrap();
        let png = dir.path().join("dot.PNG");
        std::fs::write(&png, [0x89, b'P', b'N', b'G']).unwrap();
        assert_eq!(
            image_data_url(&png).unwrap(),
            "data:image/png;base64,iVBORw=="
        );
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hi").unwrap();
        assert!(
            image_data_url(&text)
                .unwrap_err()
                .contains("is not an image")
        );
        let missing = dir.path().join("gone.jpg");
        assert!(
            image_data_url(&missing)
                .unwrap_err()
                .starts_with("cannot read image")
        );
    }
}
