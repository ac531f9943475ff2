//! The OpenAPI document, generated from the code: routes are added through [`Api`], which
//! registers the handler with the router and its description with the document in one call,
//! and request and answer shapes come from the model types' JSON Schemas.

use std::collections::BTreeMap;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{delete, get, post, put};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Value, json};

use super::Catalog;
use crate::model::registry::{CONTENT_TYPE, ErrorBody};

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The description of one operation.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    summary: &'static str,
    tag: &'static str,
    query: Vec<(&'static str, &'static str)>,
    body: Option<SchemaFn>,
    answer: Option<SchemaFn>,
    status: u16,
    links: Vec<Link>,
}

/// An OpenAPI link: what the answer lets a client call next, with which parameters (runtime
/// expressions such as `$response.body#/id` or `$request.path.subject`, or constants).
/// Stateful testers (schemathesis) chain requests along them.
#[derive(Debug, Clone)]
struct Link {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    parameters: &'static [(&'static str, &'static str)],
}

/// The operation id of a route: its method and path, with separators as underscores.
fn operation_id(method: &str, path: &str) -> String {
    format!("{method}{}", path.replace(['/', '{', '}', '.'], "_"))
}

impl Doc {
    /// An operation of group `tag`, answering 200 with no declared body.
    pub(crate) fn new(tag: &'static str, summary: &'static str) -> Self {
        Self {
            summary,
            tag,
            query: Vec::new(),
            body: None,
            answer: None,
            status: 200,
            links: Vec::new(),
        }
    }

    /// Links the success answer to the operation `method path` (its full path, prefix
    /// included), with `parameters` by name.
    pub(crate) fn link(
        mut self,
        name: &'static str,
        method: &'static str,
        path: &'static str,
        parameters: &'static [(&'static str, &'static str)],
    ) -> Self {
        self.links.push(Link {
            name,
            method,
            path,
            parameters,
        });
        self
    }

    /// A query parameter and what it does.
    pub(crate) fn query(mut self, name: &'static str, description: &'static str) -> Self {
        self.query.push((name, description));
        self
    }

    /// The JSON request body.
    pub(crate) fn body<T: JsonSchema>(mut self) -> Self {
        self.body = Some(schema_of::<T>);
        self
    }

    /// The JSON answer.
    pub(crate) fn answers<T: JsonSchema>(mut self) -> Self {
        self.answer = Some(schema_of::<T>);
        self
    }

    /// The success status, when not 200.
    pub(crate) fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

/// A router under construction, with the description of every route added.
pub(crate) struct Api {
    router: Router<Catalog>,
    operations: Vec<(&'static str, String, Doc)>,
}

impl Api {
    pub(crate) fn new() -> Self {
        Self {
            router: Router::new(),
            operations: Vec::new(),
        }
    }

    fn add(
        mut self,
        method: &'static str,
        path: &str,
        doc: Doc,
        route: axum::routing::MethodRouter<Catalog>,
    ) -> Self {
        self.router = self.router.route(path, route);
        self.operations.push((method, path.to_owned(), doc));
        self
    }

    pub(crate) fn get<H: Handler<T, Catalog>, T: 'static>(
        self,
        path: &str,
        handler: H,
        doc: Doc,
    ) -> Self {
        self.add("get", path, doc, get(handler))
    }

    pub(crate) fn post<H: Handler<T, Catalog>, T: 'static>(
        self,
        path: &str,
        handler: H,
        doc: Doc,
    ) -> Self {
        self.add("post", path, doc, post(handler))
    }

    pub(crate) fn put<H: Handler<T, Catalog>, T: 'static>(
        self,
        path: &str,
        handler: H,
        doc: Doc,
    ) -> Self {
        self.add("put", path, doc, put(handler))
    }

    pub(crate) fn delete<H: Handler<T, Catalog>, T: 'static>(
        self,
        path: &str,
        handler: H,
        doc: Doc,
    ) -> Self {
        self.add("delete", path, doc, delete(handler))
    }

    /// Adds `other`'s routes under `prefix`.
    pub(crate) fn nest(mut self, prefix: &str, other: Api) -> Self {
        self.router = self.router.nest(prefix, other.router);
        self.operations.extend(
            other
                .operations
                .into_iter()
                .map(|(m, p, d)| (m, format!("{prefix}{p}"), d)),
        );
        self
    }

    /// Adds `other`'s routes as they are.
    pub(crate) fn merge(mut self, other: Api) -> Self {
        self.router = self.router.merge(other.router);
        self.operations.extend(other.operations);
        self
    }

    /// The router and the OpenAPI document describing it.
    pub(crate) fn finish(self) -> (Router<Catalog>, Value) {
        let document = document(&self.operations);
        (self.router, document)
    }
}

fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// What a path parameter holds, from its name and route.
fn path_parameter_schema(generator: &mut SchemaGenerator, path: &str, name: &str) -> Value {
    use mesh_core::{DomainName, ProductId, Subject, TopicName};
    let schema = match name {
        "subject" => generator.subschema_for::<Subject>(),
        "name" | "domain" => generator.subschema_for::<DomainName>(),
        "topic" => generator.subschema_for::<TopicName>(),
        "id" if path.starts_with("/api/v1/products") => generator.subschema_for::<ProductId>(),
        "id" if path.starts_with("/schemas/ids") => {
            return json!({ "type": "integer", "minimum": 1, "maximum": u32::MAX });
        }
        "version" => return json!({ "type": "string", "pattern": "^(latest|-1|[1-9][0-9]{0,9})$" }),
        _ => return json!({ "type": "string" }),
    };
    schema.to_value()
}

fn document(operations: &[(&'static str, String, Doc)]) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "#/components/schemas/".into())
        .into_generator();
    let error = generator.subschema_for::<ErrorBody>();
    let mut paths: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for (method, path, doc) in operations {
        let mut parameters: Vec<Value> = path_parameters(path)
            .into_iter()
            .map(|name| {
                let schema = path_parameter_schema(&mut generator, path, name);
                json!({ "name": name, "in": "path", "required": true, "schema": schema })
            })
            .collect();
        parameters.extend(doc.query.iter().map(|(name, description)| {
            json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": "string" } })
        }));
        let answer = doc.answer.map(|f| f(&mut generator));
        let mut ok = json!({ "description": "Success" });
        if let Some(schema) = answer {
            ok["content"] = json!({ CONTENT_TYPE: { "schema": schema } });
        }
        if !doc.links.is_empty() {
            let links: serde_json::Map<String, Value> = doc
                .links
                .iter()
                .map(|link| {
                    let parameters: serde_json::Map<String, Value> = link
                        .parameters
                        .iter()
                        .map(|(name, value)| ((*name).to_owned(), json!(value)))
                        .collect();
                    (
                        link.name.to_owned(),
                        json!({ "operationId": operation_id(link.method, link.path), "parameters": parameters }),
                    )
                })
                .collect();
            ok["links"] = Value::Object(links);
        }
        let mut operation = json!({
            "summary": doc.summary,
            "tags": [doc.tag],
            "operationId": operation_id(method, path),
            "parameters": parameters,
            "responses": {
                doc.status.to_string(): ok,
                "4XX": {
                    "description": "Refused: the body says why, with a Confluent-style error code",
                    "content": { CONTENT_TYPE: { "schema": error.clone() } }
                }
            }
        });
        if let Some(body) = doc.body {
            let schema = body(&mut generator);
            operation["requestBody"] = json!({
                "required": true,
                "content": {
                    CONTENT_TYPE: { "schema": schema.clone() },
                    "application/json": { "schema": schema }
                }
            });
        }
        paths
            .entry(path.clone())
            .or_default()
            .insert((*method).to_owned(), operation);
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mesh-catalog",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The data-mesh catalog: governance of data products (/api/v1) and a Confluent-compatible schema registry (at the root)."
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
        },
        "security": [{ "bearer": [] }],
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_names_an_operation_and_its_parameters() {
        let document = Catalog::openapi();
        let mut operations = std::collections::HashMap::new();
        for (path, methods) in document["paths"].as_object().into_iter().flatten() {
            for (method, operation) in methods.as_object().into_iter().flatten() {
                operations.insert(
                    operation["operationId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    (path.clone(), method.clone()),
                );
            }
        }
        let mut links = 0;
        for methods in document["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, m)| m)
        {
            for operation in methods.as_object().into_iter().flatten().map(|(_, o)| o) {
                for response in operation["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(_, r)| r)
                {
                    for (name, link) in response["links"].as_object().into_iter().flatten() {
                        links += 1;
                        let target = link["operationId"].as_str().unwrap_or_default();
                        let (path, _) = operations
                            .get(target)
                            .unwrap_or_else(|| panic!("link {name} names no operation: {target}"));
                        for parameter in link["parameters"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(p, _)| p)
                        {
                            assert!(
                                path.contains(&format!("{{{parameter}}}")),
                                "link {name}: {path} has no {parameter}"
                            );
                        }
                    }
                }
            }
        }
        assert!(links >= 10, "{links} links");
    }

    #[test]
    fn finds_path_parameters() {
        assert_eq!(
            path_parameters("/subjects/{subject}/versions/{version}"),
            ["subject", "version"]
        );
        assert!(path_parameters("/schemas/types").is_empty());
    }
}
