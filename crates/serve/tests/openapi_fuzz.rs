//! A schema-driven fuzz of the HTTP API: the committed crates/serve/openapi.yaml (the file the
//! server serves at /openapi.yaml) is read, and for every operation proptest draws requests
//! from it, valid ones and mutated ones (wrong types, missing required fields, unknown fields,
//! out-of-range and huge numbers, huge strings and arrays, bad JSON, wrong content types,
//! unknown session ids), sent to a real server on an ephemeral port. Every answer must be
//!
//! - below 500, with a status the spec lists for the operation;
//! - for a 4xx, `{"error": "<one line>"}` as JSON, and of the status the request's fault
//!   calls for (404 unknown session, 413 too large, 415 content type, 400 a bad value);
//! - for a request the schema accepts, a 2xx whose JSON body fits the response schema,
//!   unless one of the rules the spec states in words and no schema can say (the parameter
//!   cap, playground mode's 6×8 network, a loss that must fit the problem, indexes inside the
//!   network, ...: [`Fuzz::rule_refusal`]) refuses it;
//! - for a request the schema refuses, a 4xx.
//!
//! Wrong methods on every path get 405, and the server answers a known-good request after
//! all of it. Where the spec and the server disagree, one of them is wrong: that is what
//! this test is for.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use backprop_serve::Limits;
use common::{Reply, Server, request, start};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

/// Cases drawn per operation: each is one request (a debug build runs them all in seconds).
const CASES: u32 = 64;
/// Valid integers are drawn in `minimum..=minimum + CHEAP` (within `maximum`), and arrays
/// without `maxItems` get at most `minItems + 4` items: a step of 10⁶ epochs is valid but
/// takes minutes. The upper ends of wide ranges are checked by the mutations beyond them.
const CHEAP: i64 = 12;
/// The server's body cap in this test; huge strings and arrays are larger.
const MAX_BODY: usize = 32 * 1024;
/// The server's parameter cap in this test: small, so that valid networks reach it.
const MAX_PARAMS: usize = 2000;

/// The OpenAPI description with `$ref`s followed on demand.
struct Spec(Value);

impl Spec {
    fn load() -> Spec {
        Spec(serde_norway::from_str(backprop_serve::OPENAPI_YAML).expect("openapi.yaml is YAML"))
    }

    /// `schema` itself, or what its (local) `$ref` points to.
    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let mut at = &self.0;
            for part in reference.trim_start_matches("#/").split('/') {
                at = &at[part];
            }
            assert!(!at.is_null(), "openapi.yaml: dangling $ref {reference}");
            schema = at;
        }
        schema
    }

    /// The operations, in the spec's order of paths.
    fn operations(&self) -> Vec<Operation> {
        let mut operations = Vec::new();
        for (path, item) in self.0["paths"].as_object().expect("paths") {
            let shared = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
            for method in ["get", "post", "put", "delete", "patch"] {
                let Some(op) = item.get(method) else { continue };
                let own = op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
                let mut path_params = BTreeMap::new();
                let mut query = (Map::new(), Vec::new());
                for p in shared.iter().chain(&own).map(|p| self.resolve(p)) {
                    let name = p["name"].as_str().unwrap().to_string();
                    match p["in"].as_str() {
                        Some("path") => {
                            path_params.insert(name, p["schema"].clone());
                        }
                        Some("query") => {
                            if p["required"] == true {
                                query.1.push(Value::String(name.clone()));
                            }
                            query.0.insert(name, p["schema"].clone());
                        }
                        other => panic!("{method} {path}: parameter in {other:?}"),
                    }
                }
                let query = (!query.0.is_empty()).then(|| {
                    json!({"type": "object", "additionalProperties": false, "properties": query.0, "required": query.1})
                });
                let body = op.get("requestBody").map(|b| {
                    let b = self.resolve(b);
                    let (content_type, media) = b["content"].as_object().unwrap().iter().next().unwrap();
                    RequestBody {
                        content_type: content_type.clone(),
                        schema: media["schema"].clone(),
                        example: media.get("example").cloned(),
                        required: b["required"] == true,
                    }
                });
                let responses = op["responses"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(status, r)| {
                        let r = self.resolve(r);
                        let schema = r.pointer("/content/application~1json/schema").cloned();
                        (status.parse().expect("numeric status"), schema)
                    })
                    .collect();
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    path: path.clone(),
                    path_params,
                    query,
                    body,
                    responses,
                });
            }
        }
        operations
    }
}

/// One operation of the spec.
#[derive(Debug, Clone)]
struct Operation {
    method: String,
    path: String,
    path_params: BTreeMap<String, Value>,
    /// The query parameters as one object schema (absent: none).
    query: Option<Value>,
    body: Option<RequestBody>,
    /// Status → the JSON schema of the body, where the spec gives one.
    responses: BTreeMap<u16, Option<Value>>,
}

#[derive(Debug, Clone)]
struct RequestBody {
    content_type: String,
    schema: Value,
    example: Option<Value>,
    required: bool,
}

/// A drawn request.
#[derive(Debug, Clone)]
struct Drawn {
    /// What was done to it ("valid", "unknown field", ...), for the failure message.
    label: String,
    /// Path parameters other than the session id.
    path: BTreeMap<String, String>,
    /// A live session or an unknown id.
    session: Target,
    query: Option<Value>,
    body: Payload,
}

#[derive(Debug, Clone)]
enum Target {
    Live,
    Unknown(String),
}

#[derive(Debug, Clone)]
enum Payload {
    Empty,
    /// A JSON value, sent as `application/json`.
    Json(Value),
    /// Bytes as they are; `fault` is the status their defect calls for (None: a good body).
    Raw {
        content_type: Option<String>,
        bytes: Vec<u8>,
        fault: Option<u16>,
    },
}

// --- Drawing values from a schema -------------------------------------------------------

/// Values the schema accepts.
fn valid(spec: &Spec, schema: &Value) -> BoxedStrategy<Value> {
    let s = spec.resolve(schema);
    if let Some(choices) = s.get("enum").and_then(Value::as_array) {
        return proptest::sample::select(choices.clone()).boxed();
    }
    if let Some(example) = s.get("example") {
        return Just(example.clone()).boxed();
    }
    if let Some(branches) = s.get("oneOf").and_then(Value::as_array) {
        return proptest::strategy::Union::new(branches.iter().map(|b| valid(spec, b))).boxed();
    }
    match s["type"].as_str() {
        Some("object") => {
            let required = string_list(&s["required"]);
            let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = properties(s)
                .map(|(name, sub)| {
                    let required = required.contains(name);
                    let name = name.clone();
                    let field = valid(spec, sub).prop_map(move |v| Some((name.clone(), v)));
                    if required { field.boxed() } else { prop_oneof![Just(None), field].boxed() }
                })
                .collect();
            fields.prop_map(|fields| Value::Object(fields.into_iter().flatten().collect())).boxed()
        }
        Some("array") => {
            let lo = s["minItems"].as_u64().unwrap_or(0) as usize;
            let hi = s["maxItems"].as_u64().map_or(lo + 4, |m| m as usize);
            proptest::collection::vec(valid(spec, &s["items"]), lo..=hi).prop_map(Value::Array).boxed()
        }
        Some("integer") => {
            let lo = s["minimum"].as_i64().unwrap_or(-CHEAP);
            let hi = s["maximum"].as_i64().unwrap_or(i64::MAX).min(lo + CHEAP);
            (lo..=hi).prop_map(Value::from).boxed()
        }
        Some("number") => {
            let lo = s["minimum"].as_f64().unwrap_or(-1e3);
            let hi = s["maximum"].as_f64().unwrap_or(lo + 2e3);
            prop_oneof![Just(lo), Just(hi), lo..=hi].prop_map(Value::from).boxed()
        }
        Some("string") => "[a-zA-Z0-9._ -]{0,12}".prop_map(Value::String).boxed(),
        Some("boolean") => any::<bool>().prop_map(Value::Bool).boxed(),
        other => panic!("openapi.yaml: no generator for type {other:?} in {s}"),
    }
}

fn string_list(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

fn properties(schema: &Value) -> impl Iterator<Item = (&String, &Value)> {
    schema.get("properties").and_then(Value::as_object).into_iter().flatten()
}

/// Whether `value` fits `schema`; the error names where it does not.
fn check(spec: &Spec, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let s = spec.resolve(schema);
    if value.is_null() {
        return if s["nullable"] == true { Ok(()) } else { Err(format!("{at}: null")) };
    }
    if let Some(branches) = s.get("oneOf").and_then(Value::as_array) {
        let errors: Vec<String> = branches.iter().filter_map(|b| check(spec, b, value, at).err()).collect();
        return match branches.len() - errors.len() {
            1 => Ok(()),
            0 => Err(errors.join("; and ")),
            n => Err(format!("{at}: {value} fits {n} branches of a oneOf")),
        };
    }
    if let Some(choices) = s.get("enum").and_then(Value::as_array)
        && !choices.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {choices:?}"));
    }
    let out_of_range = |v: f64| {
        s["minimum"].as_f64().is_some_and(|lo| v < lo) || s["maximum"].as_f64().is_some_and(|hi| v > hi)
    };
    match s["type"].as_str() {
        Some("object") => {
            let object = value.as_object().ok_or_else(|| format!("{at}: {value} is not an object"))?;
            for name in string_list(&s["required"]) {
                if !object.contains_key(&name) {
                    return Err(format!("{at}: `{name}` is missing"));
                }
            }
            for (name, v) in object {
                match s.get("properties").and_then(|p| p.get(name)) {
                    Some(sub) => check(spec, sub, v, &format!("{at}.{name}"))?,
                    None if s["additionalProperties"] == false => {
                        return Err(format!("{at}: unknown field `{name}`"));
                    }
                    None => {}
                }
            }
        }
        Some("array") => {
            let items = value.as_array().ok_or_else(|| format!("{at}: {value} is not an array"))?;
            let n = items.len() as u64;
            if s["minItems"].as_u64().is_some_and(|lo| n < lo)
                || s["maxItems"].as_u64().is_some_and(|hi| n > hi)
            {
                return Err(format!("{at}: {n} items"));
            }
            for (i, item) in items.iter().enumerate() {
                check(spec, &s["items"], item, &format!("{at}[{i}]"))?;
            }
        }
        Some("integer") => {
            // serde's integers: no fraction, no exponent ("1.0" and "1e3" are floats).
            if !(value.is_i64() || value.is_u64()) {
                return Err(format!("{at}: {value} is not an integer"));
            }
            let v = value.as_i64().map_or(u64::MAX as f64, |v| v as f64);
            if out_of_range(value.as_u64().map_or(v, |u| u as f64)) {
                return Err(format!("{at}: {value} is out of range"));
            }
        }
        Some("number") => {
            let v = value.as_f64().ok_or_else(|| format!("{at}: {value} is not a number"))?;
            if out_of_range(v) {
                return Err(format!("{at}: {value} is out of range"));
            }
        }
        Some("string") if !value.is_string() => return Err(format!("{at}: {value} is not a string")),
        Some("boolean") if !value.is_boolean() => return Err(format!("{at}: {value} is not a boolean")),
        _ => {}
    }
    Ok(())
}

// --- Mutations ----------------------------------------------------------------------------

/// A value of another JSON type than the schema's.
fn wrong_type(spec: &Spec, schema: &Value) -> Value {
    match spec.resolve(schema)["type"].as_str() {
        Some("string") => json!(7),
        Some("integer") => json!(2.5),
        Some("number") => json!("7"),
        Some("boolean") => json!("yes"),
        Some("array") => json!({"a": 1}),
        _ => json!([1]),
    }
}

/// The mutations of one value of `schema` (an object), each a new value and a label.
fn mutations(spec: &Spec, schema: &Value, value: &Value) -> Vec<(String, Value)> {
    let s = spec.resolve(schema);
    if let Some(branches) = s.get("oneOf").and_then(Value::as_array) {
        // The mutations of the branch the value was drawn from.
        let branch = branches.iter().find(|b| check(spec, b, value, "").is_ok()).unwrap_or(&branches[0]);
        return mutations(spec, branch, value);
    }
    let object = value.as_object().cloned().unwrap_or_default();
    let with = |name: &str, v: Value| {
        let mut o = object.clone();
        o.insert(name.to_string(), v);
        Value::Object(o)
    };
    let mut out = vec![
        ("unknown field".to_string(), with("unexpectedField", json!(1))),
        ("an array instead of an object".into(), json!([value.clone()])),
        ("a string instead of an object".into(), json!("{}")),
        ("null".into(), Value::Null),
    ];
    for name in string_list(&s["required"]) {
        let mut o = object.clone();
        o.remove(&name);
        out.push((format!("without the required `{name}`"), Value::Object(o)));
    }
    for (name, sub) in properties(s) {
        let sub = spec.resolve(sub);
        out.push((format!("`{name}` of a wrong type"), with(name, wrong_type(spec, sub))));
        let leaf = |label: &str, v: Value| (format!("`{name}` {label}"), with(name, v));
        match sub["type"].as_str() {
            Some("integer") => {
                if let Some(lo) = sub["minimum"].as_i64() {
                    out.push(leaf("below its minimum", json!(lo - 1)));
                }
                if let Some(hi) = sub["maximum"].as_i64() {
                    out.push(leaf("above its maximum", json!(hi + 1)));
                }
                out.push(leaf("huge", json!(u64::MAX)));
                out.push(leaf("negative huge", json!(i64::MIN)));
                out.push(leaf("a float", json!(1e300)));
            }
            Some("number") => {
                if let Some(lo) = sub["minimum"].as_f64() {
                    out.push(leaf("below its minimum", json!(lo - 0.5)));
                }
                if let Some(hi) = sub["maximum"].as_f64() {
                    out.push(leaf("above its maximum", json!(hi + 0.5)));
                }
                out.push(leaf("huge", json!(1e308)));
                out.push(leaf("tiny", json!(-1e308)));
            }
            Some("string") => {
                out.push(leaf("not in its enum", json!("zz-not-a-choice")));
                out.push(leaf("huge", json!("x".repeat(MAX_BODY + 1))));
                out.push(leaf("with control characters", json!("a\u{0}b\nc\u{7f}")));
            }
            Some("array") => {
                let items = spec.resolve(&sub["items"]);
                out.push(leaf("with an item of a wrong type", json!([wrong_type(spec, items)])));
                if let Some(lo) = items["minimum"].as_i64() {
                    out.push(leaf("with an item below its minimum", json!([lo - 1])));
                }
                if let Some(hi) = items["maximum"].as_i64() {
                    out.push(leaf("with an item above its maximum", json!([hi + 1])));
                }
                if items["type"] == "integer" {
                    out.push(leaf("with a huge item", json!([u64::MAX])));
                    out.push(leaf("with a huge item and another", json!([u64::MAX, 3])));
                }
                if let Some(hi) = sub["maxItems"].as_u64() {
                    let item = valid_sample(spec, items);
                    out.push(leaf("with too many items", Value::Array(vec![item; hi as usize + 1])));
                }
                let item = valid_sample(spec, items);
                out.push(leaf("with a huge number of items", Value::Array(vec![item; MAX_BODY / 2])));
                out.push(leaf("with many items", Value::Array(vec![valid_sample(spec, items); 300])));
            }
            Some("boolean") => out.push(leaf("a number", json!(1))),
            _ => {}
        }
    }
    out
}

/// One fixed valid value of a schema (for building arrays).
fn valid_sample(spec: &Spec, schema: &Value) -> Value {
    let s = spec.resolve(schema);
    if let Some(first) = s.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    match s["type"].as_str() {
        Some("integer") => json!(s["minimum"].as_i64().unwrap_or(0).max(1)),
        Some("number") => json!(s["minimum"].as_f64().unwrap_or(0.0)),
        Some("string") => s.get("example").cloned().unwrap_or(json!("s")),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        _ => json!({}),
    }
}

/// Bodies that are not JSON of the right kind, or not announced as JSON.
fn raw_json_faults(valid: &Value) -> Vec<(String, Payload)> {
    let text = valid.to_string();
    let raw = |content_type: Option<&str>, bytes: &[u8], fault| Payload::Raw {
        content_type: content_type.map(String::from),
        bytes: bytes.to_vec(),
        fault,
    };
    let json = Some("application/json");
    vec![
        ("truncated JSON".into(), raw(json, &text.as_bytes()[..text.len() - 1], Some(400))),
        ("JSON with a trailing comma".into(), raw(json, b"{\"a\": 1,}", Some(400))),
        ("not JSON".into(), raw(json, b"noise=5", Some(400))),
        ("invalid UTF-8".into(), raw(json, b"{\"seed\": \"\xff\xfe\"}", Some(400))),
        ("deeply nested JSON".into(), raw(json, "[".repeat(10_000).as_bytes(), Some(400))),
        ("JSON as text/plain".into(), raw(Some("text/plain"), text.as_bytes(), Some(415))),
        ("JSON without a content type".into(), raw(None, text.as_bytes(), Some(415))),
        ("a huge body".into(), raw(json, " ".repeat(MAX_BODY + 1).as_bytes(), Some(413))),
    ]
}

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A query object as `?k=v&...` (strings as they are, anything else as its JSON text).
fn query_string(query: &Value) -> String {
    let pairs: Vec<String> = query
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            format!("{}={}", encode(k), encode(&v.as_str().map_or_else(|| v.to_string(), String::from)))
        })
        .collect();
    if pairs.is_empty() { String::new() } else { format!("?{}", pairs.join("&")) }
}

/// The requests of one operation: valid ones and each kind of mutation.
fn requests(spec: &Spec, op: &Operation) -> BoxedStrategy<Drawn> {
    let spec_value = spec.0.clone();
    let path_params: Vec<BoxedStrategy<(String, String)>> = op
        .path_params
        .iter()
        .filter(|(name, _)| *name != "id")
        .map(|(name, schema)| {
            let name = name.clone();
            prop_oneof![
                3 => valid(spec, schema),
                1 => "[a-z./%]{1,12}".prop_map(Value::String),
            ]
            .prop_map(move |v| (name.clone(), v.as_str().unwrap().to_string()))
            .boxed()
        })
        .collect();
    let session = if op.path_params.contains_key("id") {
        prop_oneof![4 => Just(Target::Live), 1 => "[0-9a-f]{1,32}|[a-z%._-]{1,12}".prop_map(Target::Unknown)]
            .boxed()
    } else {
        Just(Target::Live).boxed()
    };
    let query = match &op.query {
        Some(schema) => {
            let schema = schema.clone();
            let spec = Spec(spec_value.clone());
            valid(&spec, &schema)
                .prop_flat_map(move |v| {
                    let mut choices = vec![("valid".to_string(), v.clone())];
                    choices.extend(mutations(&spec, &schema, &v).into_iter().filter(|(_, m)| m.is_object()));
                    proptest::sample::select(choices)
                })
                .prop_map(|(label, v)| (label, Some(v)))
                .boxed()
        }
        None => Just(("valid".to_string(), None)).boxed(),
    };
    let body = match &op.body {
        Some(b) if b.content_type == "application/json" => {
            let schema = b.schema.clone();
            let required = b.required;
            let spec = Spec(spec_value.clone());
            valid(&spec, &schema)
                .prop_flat_map(move |v| {
                    let mut choices = vec![("valid".to_string(), Payload::Json(v.clone()))];
                    choices.extend(
                        mutations(&spec, &schema, &v).into_iter().map(|(l, m)| (l, Payload::Json(m))),
                    );
                    choices.extend(raw_json_faults(&v));
                    // axum asks for the content type before it looks at the body.
                    let empty_fault = required.then_some(415);
                    choices.push((
                        "no body".into(),
                        Payload::Raw { content_type: None, bytes: vec![], fault: empty_fault },
                    ));
                    (Just(choices.remove(0)), proptest::sample::select(choices))
                })
                .prop_flat_map(|(good, bad)| prop_oneof![Just(good), Just(bad)])
                .boxed()
        }
        Some(b) => {
            let example = b.example.clone().expect("a non-JSON body needs an example in openapi.yaml");
            let text = example.as_str().expect("a text example").to_string();
            let content_type = b.content_type.clone();
            csv_bodies(text, content_type)
        }
        None => Just(("valid".to_string(), Payload::Empty)).boxed(),
    };
    (path_params, session, query, body)
        .prop_map(|(path, session, (query_label, query), (body_label, body))| {
            let label = match (query_label.as_str(), body_label.as_str()) {
                ("valid", b) => b.to_string(),
                (q, "valid") => format!("query: {q}"),
                (q, b) => format!("query: {q}; body: {b}"),
            };
            Drawn { label, path: path.into_iter().collect(), session, query, body }
        })
        .boxed()
}

/// The uploads: the spec's example, and files with a defect whose status is known.
fn csv_bodies(example: String, content_type: String) -> BoxedStrategy<(String, Payload)> {
    let lines: Vec<String> = example.lines().map(String::from).collect();
    let rows = lines.len();
    let columns = lines[0].split(',').count();
    (1..rows, 0..columns - 1, "[a-z]{1,6}|1e999|NaN|-|")
        .prop_map(move |(row, column, junk)| {
            let raw = |ct: Option<&str>, bytes: Vec<u8>, fault| Payload::Raw {
                content_type: ct.map(String::from),
                bytes,
                fault,
            };
            let mut bad = lines.clone();
            let mut cells: Vec<String> = bad[row].split(',').map(String::from).collect();
            cells[column] = junk.clone();
            bad[row] = cells.join(",");
            let choices = vec![
                ("valid".to_string(), raw(Some(&content_type), example.clone().into_bytes(), None)),
                (
                    format!("cell ({row}, {column}) is {junk:?}"),
                    raw(Some(&content_type), bad.join("\n").into_bytes(), Some(400)),
                ),
                (
                    "a CSV as JSON".into(),
                    raw(Some("application/json"), example.clone().into_bytes(), Some(415)),
                ),
                ("an empty file".into(), raw(Some(&content_type), vec![], Some(400))),
                ("a header only".into(), raw(Some(&content_type), lines[0].clone().into_bytes(), Some(400))),
                ("binary".into(), raw(Some(&content_type), vec![0xff, 0, 0xfe, b'\n', 1], Some(400))),
            ];
            choices
        })
        .prop_flat_map(proptest::sample::select)
        .boxed()
}

// --- Sending and judging ------------------------------------------------------------------

/// The server, its spec and the sessions the drawn requests act on.
struct Fuzz {
    spec: Spec,
    server: Server,
    /// Most operations act on this session: the default experiment, whose shape they keep.
    fixed: String,
    /// Its layer sizes, inputs to output, and its training rows (from its data.csv).
    sizes: Vec<u64>,
    train_rows: u64,
    /// `PUT .../experiment` acts on this one, `POST .../data` on the next.
    replaced: String,
    uploads: String,
}

impl Fuzz {
    fn start() -> Fuzz {
        let server = start(Limits {
            max_body: MAX_BODY,
            max_params: MAX_PARAMS,
            max_sessions: 64,
            ..Limits::default()
        });
        let create = |body: &str| {
            let reply = request(&server, "POST", "/api/sessions", Some("application/json"), body.as_bytes());
            assert_eq!(reply.status, 201, "{}", reply.text());
            reply.json()
        };
        let fixed = create("{}");
        let experiment = &fixed["experiment"];
        let mut sizes = vec![experiment["features"].as_array().unwrap().len() as u64];
        sizes.extend(experiment["hidden"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()));
        sizes.push(1);
        let id = fixed["id"].as_str().unwrap().to_string();
        let csv = request(&server, "GET", &format!("/api/sessions/{id}/data.csv"), None, b"").text();
        let train_rows = csv.lines().filter(|l| l.ends_with(",train")).count() as u64;
        assert!(train_rows > 0, "{csv}");
        let replaced = create("{}")["id"].as_str().unwrap().to_string();
        let uploads = create("{}")["id"].as_str().unwrap().to_string();
        Fuzz { spec: Spec::load(), server, fixed: id, sizes, train_rows, replaced, uploads }
    }

    /// The live session a drawn request of `op` acts on (DELETE gets a fresh one).
    fn live_id(&self, op: &Operation) -> String {
        if op.method == "DELETE" {
            let reply = request(&self.server, "POST", "/api/sessions", Some("application/json"), b"{}");
            assert_eq!(reply.status, 201, "{}", reply.text());
            return reply.json()["id"].as_str().unwrap().to_string();
        }
        match op.path.rsplit('/').next() {
            Some("experiment") => self.replaced.clone(),
            Some("data") => self.uploads.clone(),
            _ => self.fixed.clone(),
        }
    }

    /// Sends one drawn request and judges the answer.
    fn case(&self, op: &Operation, drawn: &Drawn) -> Result<(), String> {
        let id = match &drawn.session {
            Target::Live => self.live_id(op),
            Target::Unknown(id) => id.clone(),
        };
        let mut path = op.path.replace("{id}", &id);
        for (name, value) in &drawn.path {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        if let Some(query) = &drawn.query {
            path.push_str(&query_string(query));
        }
        let (content_type, bytes) = match &drawn.body {
            Payload::Empty => (None, Vec::new()),
            Payload::Json(v) => (Some("application/json".to_string()), v.to_string().into_bytes()),
            Payload::Raw { content_type, bytes, .. } => (content_type.clone(), bytes.clone()),
        };
        let reply = request(&self.server, &op.method, &path, content_type.as_deref(), &bytes);
        let verdict = self.judge(op, drawn, &reply);
        if op.method == "POST" && op.path == "/api/sessions" && reply.status == 201 {
            let id = reply.json()["id"].as_str().unwrap().to_string();
            assert_eq!(
                request(&self.server, "DELETE", &format!("/api/sessions/{id}"), None, b"").status,
                204
            );
        }
        verdict.map_err(|e| format!("{} {path} ({}): {e}", op.method, drawn.label))
    }

    fn judge(&self, op: &Operation, drawn: &Drawn, reply: &Reply) -> Result<(), String> {
        let status = reply.status;
        let text = reply.text();
        let shown = |t: &str| t.chars().take(300).collect::<String>();
        let answer = format!("answered {status}: {}", shown(&text));
        if status >= 500 {
            return Err(format!("a server error: {answer}"));
        }
        if !op.responses.contains_key(&status) {
            return Err(format!("status {status} is not among openapi.yaml's responses: {answer}"));
        }
        if (400..500).contains(&status) {
            if reply.header("content-type") != Some("application/json") {
                return Err(format!("a refusal without a JSON body: {answer}"));
            }
            let body: Value = serde_json::from_slice(&reply.body).map_err(|e| format!("{e}: {answer}"))?;
            let message = body["error"].as_str().unwrap_or_default();
            if message.is_empty() || message.contains('\n') || body.as_object().map_or(0, Map::len) != 1 {
                return Err(format!("a refusal must be {{\"error\": \"<one line>\"}}: {answer}"));
            }
        }
        let faults = self.faults(op, drawn);
        if faults.is_empty() {
            if !(200..300).contains(&status) {
                return Err(format!("a valid request was refused: {answer}"));
            }
            if let Some(Some(schema)) = op.responses.get(&status) {
                let body: Value =
                    serde_json::from_slice(&reply.body).map_err(|e| format!("{e}: {answer}"))?;
                check(&self.spec, schema, &body, "answer")
                    .map_err(|e| format!("the answer does not fit openapi.yaml: {e}: {answer}"))?;
            }
            if let (Payload::Json(sent), Some(echo)) = (&drawn.body, reply_experiment(op, reply)) {
                echoes(sent, &echo).map_err(|e| format!("{e}: {answer}"))?;
            }
        } else if !faults.contains(&status) {
            return Err(format!("expected one of {faults:?}: {answer}"));
        }
        Ok(())
    }

    /// The statuses the request's faults call for; empty for a request that must succeed.
    fn faults(&self, op: &Operation, drawn: &Drawn) -> Vec<u16> {
        let mut faults = Vec::new();
        if let Target::Unknown(_) = &drawn.session {
            faults.push(404);
        }
        for (name, value) in &drawn.path {
            if name == "file" && !asset_names().contains(value) {
                faults.push(404);
            }
        }
        if let (Some(query), Some(schema)) = (&drawn.query, &op.query) {
            if check(&self.spec, schema, query, "query").is_err() {
                faults.push(400);
            } else {
                faults.extend(self.rule_refusal(op, query));
            }
        }
        match &drawn.body {
            Payload::Raw { fault: Some(status), .. } => faults.push(*status),
            Payload::Json(v) => {
                let schema = &op.body.as_ref().expect("a JSON body for an operation with one").schema;
                if v.to_string().len() > MAX_BODY {
                    faults.push(413);
                } else if check(&self.spec, schema, v, "body").is_err() {
                    faults.push(400);
                } else {
                    faults.extend(self.rule_refusal(op, v));
                }
            }
            _ => {}
        }
        faults
    }

    /// The refusals of schema-valid input that openapi.yaml states in words: each status the
    /// server may answer (it names the first rule it meets).
    fn rule_refusal(&self, op: &Operation, input: &Value) -> Vec<u16> {
        let number = |k: &str| input.get(k).and_then(Value::as_u64);
        let index_past = |k: &str, end: u64| number(k).is_some_and(|v| v >= end);
        let layers = self.sizes.len() as u64 - 1;
        match op.path.rsplit('/').next() {
            Some("experiment") | Some("sessions") if op.body.is_some() => experiment_refusals(input),
            Some("backward") => {
                if index_past("example", self.train_rows) {
                    vec![400]
                } else {
                    vec![]
                }
            }
            Some("weight") => {
                let layer = number("layer").unwrap_or(0);
                let past = index_past("layer", layers)
                    || (layer < layers
                        && (index_past("from", self.sizes[layer as usize])
                            || index_past("to", self.sizes[layer as usize + 1])))
                    || index_past("input", self.sizes[0])
                    || index_past("output", *self.sizes.last().unwrap())
                    || index_past("example", self.train_rows);
                if past { vec![400] } else { vec![] }
            }
            _ => vec![],
        }
    }

    /// After the fuzz: the fixed session still steps and the server still answers.
    fn still_answers(&self) {
        let step = request(
            &self.server,
            "POST",
            &format!("/api/sessions/{}/step", self.fixed),
            Some("application/json"),
            b"{}",
        );
        assert_eq!(step.status, 200, "{}", step.text());
        assert!(step.json()["epoch"].as_u64().unwrap() >= 1);
        assert_eq!(request(&self.server, "GET", "/openapi.yaml", None, b"").status, 200);
    }
}

/// The page's files.
fn asset_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    std::fs::read_dir(dir).map_or_else(
        |_| Vec::new(),
        |entries| entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect(),
    )
}

/// The experiment rules no schema states: the data set must fit the problem, playground
/// mode keeps the Playground's 6 layers of 8, uploads train in engine mode after an upload,
/// engine mode's loss must fit the problem, and the parameter cap.
fn experiment_refusals(e: &Value) -> Vec<u16> {
    let text = |k: &str| e.get(k).and_then(Value::as_str);
    let engine = text("mode") == Some("engine");
    let mut refusals = Vec::new();
    let (problem, hidden, inputs) = match text("hash") {
        Some(hash) => {
            let c =
                backprop_playground::PlaygroundConfig::from_url(hash).expect("openapi.yaml's example hash");
            let hidden = c.network_shape.iter().map(|&n| n as u64).collect();
            (c.problem.name().to_string(), hidden, c.input_features().len() as u64)
        }
        None => {
            let dataset = text("dataset");
            let by_data = dataset
                .filter(|d| *d != "upload")
                .map(|d| if d.starts_with("reg-") { "regression" } else { "classification" });
            if let (Some(problem), Some(kind)) = (text("problem"), by_data)
                && problem != kind
            {
                refusals.push(400);
            }
            if dataset == Some("upload") {
                // No session of the fuzz has uploaded data.
                refusals.push(if engine { 409 } else { 400 });
            }
            let hidden = match e.get("hidden") {
                Some(h) => h.as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect(),
                None => vec![4, 2],
            };
            let mut features: Vec<&str> = e
                .get("features")
                .map_or(vec!["x", "y"], |f| f.as_array().unwrap().iter().filter_map(Value::as_str).collect());
            features.sort_unstable();
            features.dedup();
            let problem = text("problem").or(by_data).unwrap_or("classification").to_string();
            (problem, hidden, features.len() as u64)
        }
    };
    if !engine && (hidden.len() > 6 || hidden.iter().any(|&n| n > 8)) {
        refusals.push(400);
    }
    let regression = problem == "regression";
    let loss = text("loss").unwrap_or(if regression { "mse" } else { "log" });
    if engine && (loss == "mse") != regression {
        refusals.push(400);
    }
    let outputs = if engine && loss == "ce" { 2 } else { 1 };
    let sizes: Vec<u128> =
        std::iter::once(inputs).chain(hidden).chain(std::iter::once(outputs)).map(u128::from).collect();
    let parameters: u128 = sizes.windows(2).map(|w| (w[0] + 1) * w[1]).sum();
    if parameters > MAX_PARAMS as u128 {
        refusals.push(400);
    }
    refusals
}

/// The resolved experiment of a create or replace answer.
fn reply_experiment(op: &Operation, reply: &Reply) -> Option<Value> {
    let experiment_op = op.path == "/api/sessions" || op.path.ends_with("/experiment");
    experiment_op.then(|| reply.json()["experiment"].clone())
}

/// A resolved experiment keeps every field that was sent (a hash sets them all instead).
fn echoes(sent: &Value, echo: &Value) -> Result<(), String> {
    if sent.get("hash").is_some() {
        return Ok(());
    }
    let engine = sent.get("mode").and_then(Value::as_str) == Some("engine");
    for (name, value) in sent.as_object().into_iter().flatten() {
        let engine_only = ["optimizer", "schedule", "loss"].contains(&name.as_str());
        if name == "classes" || (engine_only && !engine) {
            continue;
        }
        let same = if name == "features" {
            let set = |v: &Value| {
                let mut names: Vec<String> = v.as_array().unwrap().iter().map(|f| f.to_string()).collect();
                names.sort_unstable();
                names.dedup();
                names
            };
            set(value) == set(&echo[name])
        } else {
            echo[name] == *value
        };
        if !same {
            return Err(format!("`{name}` {value} was sent, the session has {}", echo[name]));
        }
    }
    Ok(())
}

#[test]
fn every_operation_answers_as_openapi_yaml_says() {
    let fuzz = Fuzz::start();
    let operations = fuzz.spec.operations();
    assert!(operations.len() >= 17, "{operations:?}");
    for op in &operations {
        let strategy = requests(&fuzz.spec, op);
        let config =
            Config { cases: CASES, failure_persistence: None, max_shrink_iters: 200, ..Config::default() };
        let mut runner = TestRunner::new(config);
        if let Err(e) = runner.run(&strategy, |drawn| fuzz.case(op, &drawn).map_err(TestCaseError::fail)) {
            panic!("{} {}: {e}", op.method, op.path);
        }
    }
    fuzz.still_answers();
}

#[test]
fn methods_openapi_yaml_does_not_list_are_405() {
    let fuzz = Fuzz::start();
    let spec = &fuzz.spec.0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        let path = path.replace("{id}", &fuzz.fixed).replace("{file}", "app.js");
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if item.get(method.to_ascii_lowercase()).is_some() {
                continue;
            }
            let reply = request(&fuzz.server, method, &path, Some("application/json"), b"{}");
            let message = reply.error(405);
            assert!(message.contains(method), "{method} {path}: {message}");
        }
    }
    fuzz.still_answers();
}
