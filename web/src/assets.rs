//! The dashboard's static files, embedded in the binary: it needs no network, no CDN and no
//! files beside the executable.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Path, content type and bytes of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "nhsuk-frontend.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/vendor/nhsuk-frontend/nhsuk-frontend.min.css"),
    ),
    (
        "nhsuk-frontend.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/nhsuk-frontend/nhsuk-frontend.min.js"),
    ),
    ("csx.css", "text/css; charset=utf-8", include_bytes!("../assets/csx.css")),
    ("csx.mjs", "text/javascript; charset=utf-8", include_bytes!("../assets/csx.mjs")),
    ("images/favicon.ico", "image/x-icon", include_bytes!("../assets/vendor/nhsuk-frontend/images/favicon.ico")),
    ("images/favicon.svg", "image/svg+xml", include_bytes!("../assets/vendor/nhsuk-frontend/images/favicon.svg")),
    (
        "images/nhsuk-icon-mask.svg",
        "image/svg+xml",
        include_bytes!("../assets/vendor/nhsuk-frontend/images/nhsuk-icon-mask.svg"),
    ),
    (
        "images/nhsuk-icon-arrow-down.svg",
        "image/svg+xml",
        include_bytes!("../assets/vendor/nhsuk-frontend/images/nhsuk-icon-arrow-down.svg"),
    ),
    (
        "images/nhsuk-icon-arrow-up.svg",
        "image/svg+xml",
        include_bytes!("../assets/vendor/nhsuk-frontend/images/nhsuk-icon-arrow-up.svg"),
    ),
    (
        "images/nhsuk-icon-arrow-up-down.svg",
        "image/svg+xml",
        include_bytes!("../assets/vendor/nhsuk-frontend/images/nhsuk-icon-arrow-up-down.svg"),
    ),
    (
        "images/nhsuk-icon-cross.svg",
        "image/svg+xml",
        include_bytes!("../assets/vendor/nhsuk-frontend/images/nhsuk-icon-cross.svg"),
    ),
];

/// The version of the assets, appended to their addresses so browsers fetch new ones after an
/// upgrade.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub async fn serve(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, bytes)) => {
            let mut r = (*bytes).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
            r
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_asset_refers_to_another_host() {
        for (path, _, bytes) in super::ASSETS {
            if path.ends_with(".css") || path.ends_with(".js") || path.ends_with(".mjs") {
                let text = String::from_utf8_lossy(bytes);
                assert!(!text.contains("url(http"), "{path} loads something from the network");
                assert!(!text.contains("@import"), "{path} imports another stylesheet");
            }
        }
    }
}
