//! `GET /api/openapi.json`: the OpenAPI 3.1 description of the public API, written by hand in
//! `static/openapi.json` and checked by the tests against the router and against real answers.

use axum::response::Response;

use super::PublicRoutes;

pub fn routes(r: PublicRoutes) -> PublicRoutes {
    r.get("/api/openapi.json", document)
}

async fn document() -> Response {
    super::asset(
        "application/json",
        include_str!("../../static/openapi.json"),
    )
}
