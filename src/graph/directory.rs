//! Directory reads shared by approvals and the safety rails: the members of a group or a
//! directory role found by its display name.

use serde_json::Value;

use super::{GraphClient, GraphPath, GraphRequest};

/// Which directory collection a name is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectorySet {
    Group,
    Role,
}

impl DirectorySet {
    fn collection(self) -> &'static str {
        match self {
            DirectorySet::Group => "groups",
            DirectorySet::Role => "directoryRoles",
        }
    }

    fn label(self) -> &'static str {
        match self {
            DirectorySet::Group => "group",
            DirectorySet::Role => "role",
        }
    }
}

impl GraphClient {
    /// The members (user objects) of the group or activated directory role named `name`
    /// (case-insensitive). Reads only; the error says what could not be read.
    pub async fn named_members(&self, set: DirectorySet, name: &str) -> Result<Vec<Value>, String> {
        let collection = set.collection();
        let listed = self
            .get_pages(GraphPath::new([collection]), 20)
            .await
            .map_err(|e| format!("cannot read {collection}: {e}"))?;
        let Some(id) = listed
            .items
            .iter()
            .find(|g| {
                g["displayName"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .and_then(|g| g["id"].as_str())
        else {
            return Err(format!(
                "no {} named `{name}` in the directory",
                set.label()
            ));
        };
        let path = GraphPath::new([collection])
            .opaque(id)
            .map_err(|e| e.to_string())?
            .segment("members");
        let members = self
            .send(GraphRequest::get(path))
            .await
            .map_err(|e| format!("cannot read the members of {} `{name}`: {e}", set.label()))?;
        Ok(members.body["value"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }
}
