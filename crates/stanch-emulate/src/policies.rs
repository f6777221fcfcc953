//! Conditional Access policies and named locations.

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::fixture::Fixture;
use crate::wire::{
    GraphRequest, GraphResponse, bad_request, json_body, metadata, method_not_allowed, now_rfc3339,
    unknown_segment,
};

const STATES: &[&str] = &["enabled", "disabled", "enabledForReportingButNotEnforced"];
const CLIENT_APP_TYPES: &[&str] = &[
    "all",
    "browser",
    "mobileAppsAndDesktopClients",
    "exchangeActiveSync",
    "easSupported",
    "other",
];

fn missing_object(id: &str) -> GraphResponse {
    GraphResponse::error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

/// `segs` starts after `conditionalAccess`.
pub fn route(tenant: &mut Fixture, req: &GraphRequest, segs: &[String]) -> GraphResponse {
    let kind = segs
        .first()
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let (list, validate, entity): (&mut Vec<Value>, Validator, &str) = match kind.as_str() {
        "policies" => (
            &mut tenant.conditional_access_policies,
            validate_policy,
            "identity/conditionalAccess/policies",
        ),
        "namedlocations" => (
            &mut tenant.named_locations,
            validate_location,
            "identity/conditionalAccess/namedLocations",
        ),
        _ => return unknown_segment(segs.last().map(String::as_str).unwrap_or("")),
    };
    let Some(id) = segs.get(1) else {
        return match req.method {
            Method::GET => {
                GraphResponse::ok(json!({"@odata.context": metadata(entity), "value": list}))
            }
            Method::POST => {
                let body = match json_body(req).and_then(|b| validate(b, true)) {
                    Ok(body) => body,
                    Err(e) => return e,
                };
                let created = if kind == "policies" {
                    policy_defaults(body)
                } else {
                    location_defaults(body)
                };
                list.push(created.clone());
                let mut out = Map::new();
                out.insert(
                    "@odata.context".into(),
                    json!(metadata(&format!("{entity}/$entity"))),
                );
                if let Value::Object(map) = created {
                    out.extend(map);
                }
                GraphResponse::json(StatusCode::CREATED, Value::Object(out))
            }
            _ => method_not_allowed(),
        };
    };
    if segs.len() > 2 {
        return unknown_segment(segs.last().map(String::as_str).unwrap_or(""));
    }
    let Some(pos) = list
        .iter()
        .position(|p| p.get("id").and_then(Value::as_str) == Some(id.as_str()))
    else {
        return missing_object(id);
    };
    match req.method {
        Method::GET => GraphResponse::ok(list[pos].clone()),
        Method::PATCH => {
            let body = match json_body(req).and_then(|b| validate(b, false)) {
                Ok(body) => body,
                Err(e) => return e,
            };
            merge(&mut list[pos], Value::Object(body));
            list[pos]["modifiedDateTime"] = json!(now_rfc3339());
            GraphResponse::no_content()
        }
        Method::DELETE => {
            if kind == "namedlocations" && location_in_use(&tenant.conditional_access_policies, id)
            {
                return bad_request(
                    "The named location is referenced by one or more Conditional Access policies and cannot be deleted.",
                );
            }
            let list = if kind == "policies" {
                &mut tenant.conditional_access_policies
            } else {
                &mut tenant.named_locations
            };
            list.remove(pos);
            GraphResponse::no_content()
        }
        _ => method_not_allowed(),
    }
}

type Validator = fn(Map<String, Value>, bool) -> Result<Map<String, Value>, GraphResponse>;

fn location_in_use(policies: &[Value], id: &str) -> bool {
    policies.iter().any(|p| {
        ["includeLocations", "excludeLocations"].iter().any(|k| {
            p.pointer(&format!("/conditions/locations/{k}"))
                .and_then(Value::as_array)
                .is_some_and(|ids| ids.iter().any(|v| v.as_str() == Some(id)))
        })
    })
}

/// Objects merge recursively, arrays and scalars replace (so PATCH replaces `ipRanges`).
fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k, v);
                    }
                }
            }
        }
        (t, p) => *t = p,
    }
}

fn validate_policy(
    body: Map<String, Value>,
    create: bool,
) -> Result<Map<String, Value>, GraphResponse> {
    if let Some(state) = body.get("state")
        && !state.as_str().is_some_and(|s| STATES.contains(&s))
    {
        return Err(bad_request(&format!("Invalid value for 'state': {state}.")));
    }
    if let Some(types) = body.pointer_value("/conditions/clientAppTypes") {
        let valid = types.as_array().is_some_and(|a| {
            a.iter()
                .all(|t| t.as_str().is_some_and(|t| CLIENT_APP_TYPES.contains(&t)))
        });
        if !valid {
            return Err(bad_request(&format!(
                "Invalid value for 'clientAppTypes': {types}."
            )));
        }
    }
    if create {
        if !body.get("displayName").is_some_and(Value::is_string) {
            return Err(bad_request("displayName is required."));
        }
        if body.pointer_value("/conditions/applications").is_none() {
            return Err(bad_request("conditions.applications is required."));
        }
        if body.pointer_value("/conditions/users").is_none()
            && body
                .pointer_value("/conditions/clientApplications")
                .is_none()
        {
            return Err(bad_request(
                "Either conditions.users or conditions.clientApplications is required.",
            ));
        }
        if body.get("grantControls").is_none_or(Value::is_null)
            && body.get("sessionControls").is_none_or(Value::is_null)
        {
            return Err(bad_request(
                "Either grantControls or sessionControls is required.",
            ));
        }
    }
    Ok(body)
}

trait Pointer {
    fn pointer_value(&self, pointer: &str) -> Option<&Value>;
}

impl Pointer for Map<String, Value> {
    fn pointer_value(&self, pointer: &str) -> Option<&Value> {
        let (first, rest) = pointer
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((pointer.trim_start_matches('/'), ""));
        let v = self.get(first)?;
        let found = if rest.is_empty() {
            Some(v)
        } else {
            v.pointer(&format!("/{rest}"))
        };
        found.filter(|v| !v.is_null())
    }
}

/// Inserts `defaults` keys missing from `obj`, keeping Graph's property order for new keys.
fn fill(obj: &mut Value, defaults: Value) {
    let (Value::Object(target), Value::Object(defaults)) = (obj, defaults) else {
        return;
    };
    for (k, v) in defaults {
        target.entry(k).or_insert(v);
    }
}

fn policy_defaults(body: Map<String, Value>) -> Value {
    let now = now_rfc3339();
    let mut policy = json!({
        "id": uuid::Uuid::new_v4().to_string(), "templateId": null,
        "displayName": body.get("displayName"), "createdDateTime": now, "modifiedDateTime": null,
        "state": body.get("state").cloned().unwrap_or(json!("enabled")),
    });
    for (k, v) in body {
        if k != "displayName" && k != "state" {
            policy[k.as_str()] = v;
        }
    }
    fill(
        &mut policy,
        json!({"sessionControls": null, "conditions": {}, "grantControls": null}),
    );
    let conditions = &mut policy["conditions"];
    fill(
        conditions,
        json!({
            "userRiskLevels": [], "signInRiskLevels": [], "clientAppTypes": [], "platforms": null,
            "locations": null, "devices": null, "clientApplications": null, "applications": {}, "users": null,
        }),
    );
    fill(
        &mut conditions["applications"],
        json!({
            "includeApplications": [], "excludeApplications": [], "includeUserActions": [],
            "includeAuthenticationContextClassReferences": [], "applicationFilter": null,
        }),
    );
    if conditions["users"].is_object() {
        fill(
            &mut conditions["users"],
            json!({
                "includeUsers": [], "excludeUsers": [], "includeGroups": [], "excludeGroups": [],
                "includeRoles": [], "excludeRoles": [], "includeGuestsOrExternalUsers": null,
                "excludeGuestsOrExternalUsers": null,
            }),
        );
    }
    if conditions["locations"].is_object() {
        fill(
            &mut conditions["locations"],
            json!({"includeLocations": [], "excludeLocations": []}),
        );
    }
    if policy["grantControls"].is_object() {
        fill(
            &mut policy["grantControls"],
            json!({
                "operator": "OR", "builtInControls": [], "customAuthenticationFactors": [],
                "termsOfUse": [], "authenticationStrength": null,
            }),
        );
    }
    policy
}

const IP_LOCATION: &str = "#microsoft.graph.ipNamedLocation";
const COUNTRY_LOCATION: &str = "#microsoft.graph.countryNamedLocation";

fn validate_location(
    body: Map<String, Value>,
    create: bool,
) -> Result<Map<String, Value>, GraphResponse> {
    let kind = body.get("@odata.type").and_then(Value::as_str);
    match kind {
        Some(IP_LOCATION) | Some(COUNTRY_LOCATION) => {}
        Some(other) => {
            return Err(bad_request(&format!(
                "Invalid '@odata.type' '{other}' for a named location."
            )));
        }
        None => {
            return Err(bad_request(
                "The '@odata.type' property is required for a named location, e.g. '#microsoft.graph.ipNamedLocation'.",
            ));
        }
    }
    if create && !body.get("displayName").is_some_and(Value::is_string) {
        return Err(bad_request("displayName is required."));
    }
    // `isTrusted` belongs to IP locations only, and is a boolean (false when left out).
    if let Some(trusted) = body.get("isTrusted") {
        if kind != Some(IP_LOCATION) {
            return Err(bad_request(
                "Property 'isTrusted' does not exist on type 'microsoft.graph.countryNamedLocation'.",
            ));
        }
        if !trusted.is_boolean() {
            return Err(bad_request(&format!(
                "Invalid value for 'isTrusted': {trusted}; expected true or false."
            )));
        }
    }
    if kind == Some(IP_LOCATION) {
        match body.get("ipRanges") {
            None if !create => {}
            Some(Value::Array(ranges)) if !ranges.is_empty() => {
                for range in ranges {
                    check_range(range)?;
                }
            }
            _ => return Err(bad_request("ipRanges must hold at least one range.")),
        }
    }
    Ok(body)
}

fn check_range(range: &Value) -> Result<(), GraphResponse> {
    let cidr = range
        .get("cidrAddress")
        .and_then(Value::as_str)
        .unwrap_or("");
    let ok = match range.get("@odata.type").and_then(Value::as_str) {
        None => {
            return Err(bad_request(
                "The '@odata.type' property is required on every ipRange, e.g. '#microsoft.graph.iPv4CidrRange'.",
            ));
        }
        Some("#microsoft.graph.iPv4CidrRange") => cidr.parse::<ipnet::Ipv4Net>().is_ok(),
        Some("#microsoft.graph.iPv6CidrRange") => cidr.parse::<ipnet::Ipv6Net>().is_ok(),
        Some(other) => {
            return Err(bad_request(&format!(
                "Invalid '@odata.type' '{other}' for an ipRange."
            )));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(bad_request(&format!(
            "Invalid cidrAddress '{cidr}' for its range type."
        )))
    }
}

fn location_defaults(body: Map<String, Value>) -> Value {
    let now = now_rfc3339();
    let mut location = json!({
        "@odata.type": body.get("@odata.type"), "id": uuid::Uuid::new_v4().to_string(),
        "displayName": body.get("displayName"), "createdDateTime": now, "modifiedDateTime": now,
    });
    for (k, v) in body {
        location[k.as_str()] = v;
    }
    if location["@odata.type"] == IP_LOCATION {
        fill(&mut location, json!({"isTrusted": false, "ipRanges": []}));
    }
    location
}
