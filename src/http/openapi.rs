//! The OpenAPI 3.1 document of `stanch serve`, served at `/openapi.json`. It is made from the
//! handlers' own `#[utoipa::path]` annotations, and [`router`] registers every route through
//! utoipa-axum's `routes!`, which takes the path and method from the annotation: a route exists
//! only as documented, so the document cannot drift from the router.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ErrorBody, ErrorCode, ErrorDetail};
use super::{AppState, approve, intake, operator, ops, slack};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "stanch",
        description = "Detection intake, and the operator API for people and automation signed in with the tenant's identity provider. Every error answer has one shape with a stable code.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
    modifiers(&BearerAuth),
    tags(
        (name = "intake", description = "Detections in"),
        (name = "operators", description = "The operator API: a bearer token from the tenant's identity provider"),
        (name = "approvals", description = "Signed approval links and chat interactivity"),
        (name = "ops", description = "Health, readiness, metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from the tenant's identity provider for the API's audience (`operators.audience`)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "intake_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "One of `intake.bearer_tokens` (or an HMAC signature header)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every route of `stanch serve` with its documentation.
pub fn router() -> OpenApiRouter<AppState> {
    use operator::{export, playbooks, reads, writes};
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(intake::post_detections, reads::detections))
        .routes(routes!(intake::post_detections_in_format, reads::detection))
        .routes(routes!(reads::actions))
        .routes(routes!(reads::action))
        .routes(routes!(writes::rollback))
        .routes(routes!(writes::retry))
        .routes(routes!(writes::extend))
        .routes(routes!(writes::confirm))
        .routes(routes!(reads::approvals))
        .routes(routes!(reads::approval))
        .routes(routes!(writes::decide))
        .routes(routes!(reads::audit))
        .routes(routes!(reads::audit_verify))
        .routes(routes!(export::audit_export))
        .routes(routes!(reads::campaigns))
        .routes(routes!(reads::campaign))
        .routes(routes!(writes::confirm_campaign))
        .routes(routes!(reads::me))
        .routes(routes!(playbooks::playbooks))
        .routes(routes!(playbooks::report))
        .routes(routes!(approve::show, approve::submit))
        .routes(routes!(approve::sign_in::start))
        .routes(routes!(approve::sign_in::finish))
        .routes(routes!(slack::interactions))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
}

/// The document alone, as `/openapi.json` serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    router().split_for_parts().1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_and_every_operator_call_needs_a_token() {
        let doc = serde_json::to_value(document()).unwrap();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 19, "{:?}", paths.keys());
        let mut operations = 0;
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                operations += 1;
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path}"
                );
                let operator = op["tags"][0] == "operators";
                let secured = op["security"][0].get("operator_token").is_some();
                assert_eq!(
                    operator, secured,
                    "{method} {path}: operator calls need the operator token"
                );
                if operator {
                    assert!(
                        op["responses"].get("401").is_some(),
                        "{method} {path} documents its 401"
                    );
                }
            }
        }
        assert!(operations >= 22, "{operations}");
        let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
        assert_eq!(
            codes.as_array().unwrap().len(),
            ErrorCode::ALL.len(),
            "{codes}"
        );
    }
}
