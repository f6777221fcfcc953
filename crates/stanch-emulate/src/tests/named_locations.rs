//! Named locations as Graph keeps them: `isTrusted` on IP locations only, a boolean that
//! defaults to false, readable with `$select` like the other properties.

use reqwest::Method;
use serde_json::json;

use super::Harness;

const LOCATIONS: &str = "/identity/conditionalAccess/namedLocations";

#[tokio::test]
async fn is_trusted_is_kept_defaulted_selected_and_validated_like_graph() {
    let h = Harness::start().await;
    let path = format!("{LOCATIONS}?$select=id,displayName,isTrusted,ipRanges");
    let (status, list, _) = h.call(Method::GET, &path, None).await;
    assert_eq!(status, 200);
    let offices = &list["value"][0];
    assert_eq!(offices["displayName"], "Contoso offices");
    assert_eq!(offices["isTrusted"], true);
    assert_eq!(offices["ipRanges"][0]["cidrAddress"], "81.2.69.0/24");
    // The type of each item stays, as Graph annotates a polymorphic collection.
    assert_eq!(offices["@odata.type"], "#microsoft.graph.ipNamedLocation");
    assert!(offices.get("createdDateTime").is_none(), "{offices}");

    let untrusted = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "x",
        "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}]});
    let (status, created, _) = h.call(Method::POST, LOCATIONS, Some(untrusted)).await;
    assert_eq!(status, 201);
    assert_eq!(created["isTrusted"], false, "{created}");

    let stringly = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "y", "isTrusted": "yes",
        "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}]});
    let (status, body, _) = h.call(Method::POST, LOCATIONS, Some(stringly)).await;
    assert_eq!(status, 400, "{body}");
    let country = json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "z",
        "isTrusted": true, "countriesAndRegions": ["US"]});
    let (status, body, _) = h.call(Method::POST, LOCATIONS, Some(country)).await;
    assert_eq!(status, 400, "{body}");
}
