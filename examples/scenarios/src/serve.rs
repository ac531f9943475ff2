//! The recommendations domain's HTTP service, and the analytics domain's live trends.
//!
//! ```text
//! GET /recommendations/{user}?k=10   top-k items for a user, with why
//! GET /trends?dimension=genre&k=10   plays in the newest minute (dimension: genre | item)
//! GET /healthz
//! ```

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::music::analytics::Dimension;
use crate::music::mesh::MusicState;
use crate::music::{ItemKind, Reason};

/// The most items one request may ask for.
const MAX_K: usize = 100;

/// The routes, on `state`.
pub fn router(state: MusicState) -> Router {
    Router::new()
        .route("/recommendations/{user}", get(recommendations))
        .route("/trends", get(trends))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

/// Serves the routes on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: MusicState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

#[derive(Debug, Deserialize)]
struct TopK {
    k: Option<usize>,
}

/// One recommended item.
#[derive(Debug, Serialize)]
struct Recommended {
    item_id: i64,
    kind: ItemKind,
    title: Option<String>,
    creator: Option<String>,
    genre: Option<String>,
    score: f64,
    reason: Reason,
}

#[derive(Debug, Serialize)]
struct Recommendations {
    user_id: i64,
    items: Vec<Recommended>,
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

async fn recommendations(
    State(state): State<MusicState>,
    Path(user): Path<String>,
    Query(query): Query<TopK>,
) -> Response {
    let Ok(user_id) = user.parse::<i64>() else {
        return bad_request(format!("user must be a numeric user id, not {user:?}"));
    };
    let k = query.k.unwrap_or(10);
    if k == 0 || k > MAX_K {
        return bad_request(format!("k must be between 1 and {MAX_K}"));
    }
    let items = state
        .recommend(user_id, k)
        .into_iter()
        .map(|(r, item)| Recommended {
            item_id: r.item_id,
            kind: r.kind,
            title: item.as_ref().map(|i| i.title.clone()),
            creator: item.as_ref().map(|i| i.creator.clone()),
            genre: item.map(|i| i.genre),
            score: r.score,
            reason: r.reason,
        })
        .collect();
    Json(Recommendations { user_id, items }).into_response()
}

#[derive(Debug, Deserialize)]
struct TrendsQuery {
    dimension: Option<String>,
    k: Option<usize>,
}

#[derive(Debug, Serialize)]
struct Trend {
    key: String,
    plays: i64,
}

#[derive(Debug, Serialize)]
struct Trends {
    minute: Option<i64>,
    dimension: Dimension,
    top: Vec<Trend>,
}

async fn trends(State(state): State<MusicState>, Query(query): Query<TrendsQuery>) -> Response {
    let dimension = match query.dimension.as_deref() {
        None | Some("genre") => Dimension::Genre,
        Some("item") => Dimension::Item,
        Some(other) => {
            return bad_request(format!("dimension must be genre or item, not {other:?}"));
        }
    };
    let k = query.k.unwrap_or(10).clamp(1, MAX_K);
    let Ok(trends) = state.trends.lock() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let minute = trends.latest_minute();
    let top = trends
        .top(dimension, minute, k)
        .into_iter()
        .map(|(key, plays)| Trend { key, plays })
        .collect();
    Json(Trends {
        minute,
        dimension,
        top,
    })
    .into_response()
}
