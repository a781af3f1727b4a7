//! The HTTP surface: one router per area, nested here, wrapped in the pipeline of api.md §2.5.

pub mod account;
pub mod assets;
pub mod auth;
pub mod calls;
pub mod channels;
pub mod chat;
pub mod error;
pub mod events;
pub mod files;
pub mod health;
pub mod link_preview;
pub mod pages;
pub mod people;
pub mod pipeline;
pub mod presence;
pub mod search;

use std::net::SocketAddr;

use axum::middleware;
use axum::Router;

use crate::app::AppRef;

/// Facts about the connection a request arrived on, inserted by the server for every request.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
}

/// The whole application router.
pub fn router(app: AppRef) -> Router {
    let routes = Router::new()
        .merge(health::routes())
        .merge(assets::routes())
        .merge(account::routes())
        .merge(people::routes())
        .merge(chat::routes())
        .merge(channels::routes())
        .merge(events::routes())
        .merge(presence::routes())
        .merge(calls::routes())
        .merge(search::routes())
        .merge(files::routes())
        .merge(link_preview::routes())
        // Runs after `after_match` (route layers added later wrap earlier ones): §2.5 order.
        .route_layer(middleware::from_fn_with_state(app.clone(), auth::layer))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            pipeline::after_match,
        ));
    routes
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), pipeline::outer))
        .with_state(app)
}

async fn fallback() -> error::ApiError {
    error::ApiError::NotFound
}

async fn method_not_allowed() -> axum::response::Response {
    error::generic(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed.",
    )
}
