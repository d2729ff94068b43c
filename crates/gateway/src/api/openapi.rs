//! `GET /openapi.json` [extension]: an OpenAPI 3.1 description of every route (built with
//! utoipa's builders from the route table below; bodies are described in docs/gateway-api.md).

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, HttpMethod, Info, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Required,
    Response as ApiResponse,
};

use super::PLATFORM_PREFIX;
use super::json::RawJson;

/// One route: method, path, summary, query parameters, whether it is our extension, whether it
/// needs the token.
struct Route {
    method: HttpMethod,
    path: &'static str,
    summary: &'static str,
    query: &'static [&'static str],
    extension: bool,
    authenticated: bool,
}

const fn route(
    method: HttpMethod,
    path: &'static str,
    summary: &'static str,
    query: &'static [&'static str],
    extension: bool,
) -> Route {
    Route {
        method,
        path,
        summary,
        query,
        extension,
        authenticated: true,
    }
}

fn routes() -> Vec<Route> {
    use HttpMethod::{Get, Post};
    vec![
        route(
            Post,
            "/gateway_commands",
            "Create a gateway command and send it to one or more devices",
            &[],
            false,
        ),
        route(
            Get,
            "/gateway_commands",
            "List gateway commands",
            &[
                "device_id",
                "command_type",
                "status",
                "software_update_id",
                "page",
                "per_page",
                "page_meta",
            ],
            false,
        ),
        route(
            Get,
            "/gateway_commands/{id}",
            "Retrieve a gateway command and its per-device statuses",
            &[],
            false,
        ),
        route(
            Post,
            "/gateway_commands/{id}/cancel",
            "Cancel a gateway command: its targets not yet terminal fail and free their in-flight slots",
            &[],
            true,
        ),
        route(
            Get,
            "/gateway_commands/events",
            "Server-sent events of status changes and observe notifications",
            &["command_id", "device_id", "terminal_only"],
            true,
        ),
        route(
            Post,
            "/devices/{id}/gateway_commands",
            "Execute a gateway command on a device",
            &[],
            false,
        ),
        route(
            Get,
            "/devices/{id}/gateway_commands",
            "List the commands of a device",
            &[
                "command_type",
                "status",
                "software_update_id",
                "page",
                "per_page",
                "page_meta",
            ],
            true,
        ),
        route(
            Get,
            "/devices",
            "List devices",
            &[
                "unique_id",
                "parent_device_id",
                "page",
                "per_page",
                "page_meta",
            ],
            false,
        ),
        route(
            Post,
            "/devices",
            "Create a device without an LwM2M registration",
            &[],
            true,
        ),
        route(
            Get,
            "/devices/{id}",
            "Retrieve a device by _id or unique_id",
            &[],
            false,
        ),
        route(
            Post,
            "/devices/bulk/{command_type}",
            "Create one gateway command per listed device",
            &[],
            false,
        ),
        route(
            Get,
            "/bulk_responses/{id}",
            "Retrieve a bulk request: created commands, errors and live progress",
            &[],
            false,
        ),
        route(
            Post,
            "/software_updates",
            "Create a software update",
            &[],
            false,
        ),
        route(
            Get,
            "/software_updates/{id}",
            "Retrieve a software update",
            &[],
            false,
        ),
        route(
            Post,
            "/files",
            "Upload a file (raw body or JSON {name, data_base64})",
            &["name"],
            false,
        ),
        route(Get, "/files/{id}", "Retrieve a file's metadata", &[], false),
        route(
            Get,
            "/files/{id}/data",
            "Download a file's bytes",
            &[],
            true,
        ),
        Route {
            authenticated: false,
            ..route(Get, "/health", "Liveness and a few counts", &[], true)
        },
        Route {
            authenticated: false,
            ..route(Get, "/metrics", "Prometheus metrics", &[], true)
        },
        Route {
            authenticated: false,
            ..route(Get, "/openapi.json", "This document", &[], true)
        },
    ]
}

fn build() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in routes() {
        let summary = if route.extension {
            format!("{} [fleetbench extension]", route.summary)
        } else {
            route.summary.to_owned()
        };
        let mut operation = OperationBuilder::new()
            .summary(Some(summary))
            .response(
                "200",
                ApiResponse::new("OK (create answers 200 with the stored object)"),
            )
            .response(
                "400",
                ApiResponse::new("Invalid request: {\"message\": \"<field>: <reason>\"}"),
            )
            .response(
                "404",
                ApiResponse::new("The item you were looking for does not exist"),
            );
        if route.authenticated {
            operation = operation
                .response("401", ApiResponse::new("You are not authorized"))
                .securities(Some([SecurityRequirement::new(
                    "token",
                    Vec::<String>::new(),
                )]));
        }
        if route.method == HttpMethod::Post {
            operation = operation
                .response("413", ApiResponse::new("Body larger than max_body_bytes"))
                .response(
                    "429",
                    ApiResponse::new("Too many commands in flight; see Retry-After"),
                );
        }
        for segment in route.path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True),
            );
        }
        for name in route.query {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False),
            );
        }
        let operation = operation.build();
        paths = paths.path(
            route.path,
            PathItem::new(route.method.clone(), operation.clone()),
        );
        paths = paths.path(
            format!("{PLATFORM_PREFIX}{}", route.path),
            PathItem::new(route.method, operation),
        );
    }
    let components = ComponentsBuilder::new()
        .security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("Authorization"))),
        )
        .build();
    OpenApiBuilder::new()
        .info(Info::new(
            "fleetbench gateway (EdgeIQ-style Gateway Command API)",
            env!("CARGO_PKG_VERSION"),
        ))
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// The OpenAPI document.
pub async fn document() -> Response {
    static DOCUMENT: OnceLock<Vec<u8>> = OnceLock::new();
    let bytes = DOCUMENT.get_or_init(|| {
        build()
            .to_json()
            .map(String::into_bytes)
            .unwrap_or_else(|_| b"{}".to_vec())
    });
    RawJson(bytes.clone()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_bare_and_under_the_platform_prefix() {
        let json: serde_json::Value = serde_json::from_str(&build().to_json().unwrap()).unwrap();
        for route in routes() {
            for path in [
                route.path.to_owned(),
                format!("{PLATFORM_PREFIX}{}", route.path),
            ] {
                let method = if route.method == HttpMethod::Post {
                    "post"
                } else {
                    "get"
                };
                assert!(
                    json["paths"][&path][method].is_object(),
                    "{method} {path} missing"
                );
            }
        }
        assert_eq!(
            json["components"]["securitySchemes"]["token"]["name"],
            "Authorization"
        );
    }
}
