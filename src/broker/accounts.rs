//! The broker accounts fleetd keeps: one per tracker, bound to its vehicle's topics and to
//! one client id, and the daemon's own, the only one that may subscribe to telemetry.
//!
//! Every change is a short list of dynamic-security commands sent as one message and applied
//! in order by the plugin. A change deletes before it creates, so it is idempotent and
//! repairs whatever drifted (an account left by a failed request, an ACL from an older
//! prefix); "not found" answers to those deletions are expected.

use rand::RngCore;
use serde_json::{json, Value};

use super::admin::{Admin, BrokerError};
use crate::config::{Config, TRACKER_PREFIX};

/// The role of the daemon account `username`: one per account, so daemons with different
/// topic prefixes can share a broker.
pub fn daemon_role(username: &str) -> String {
    format!("fleetd-daemon-{username}")
}

/// What a tracker connects with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerAccount {
    /// MQTT username, also the client id the tracker must connect with and its role's name.
    pub username: String,
    /// Shown once; the broker keeps only a salted hash.
    pub password: String,
}

/// `tracker-{vehicle_id}`: the tracker's username, client id and role. Vehicle ids are
/// `[A-Za-z0-9._-]`, so the name is too, and no wildcard can reach an ACL.
pub fn tracker_name(vehicle_id: &str) -> String {
    format!("{TRACKER_PREFIX}{vehicle_id}")
}

/// 32 random bytes, base64url without padding (43 characters).
pub fn new_password() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn is_not_found(error: &Option<String>) -> bool {
    error.as_deref().is_some_and(|e| e.ends_with("not found"))
}

/// Deletions may find nothing; every other command must succeed.
async fn apply(admin: &Admin, commands: Vec<Value>) -> Result<(), BrokerError> {
    for answer in admin.execute(commands).await? {
        let tolerated = answer.command.starts_with("delete") && is_not_found(&answer.error);
        if !tolerated {
            answer.ok()?;
        }
    }
    Ok(())
}

/// The commands that (re)create `vehicle_id`'s tracker account with `password`: it may
/// publish to `{prefix}/{vehicle_id}/#` only, connect only as client id `tracker-{id}`,
/// and subscribe to nothing. A tracker still connected under the old account is
/// disconnected by the deletion.
pub fn tracker_commands(prefix: &str, vehicle_id: &str, password: &str) -> Vec<Value> {
    let name = tracker_name(vehicle_id);
    vec![
        json!({"command": "deleteClient", "username": name}),
        json!({"command": "deleteRole", "rolename": name}),
        json!({"command": "createRole", "rolename": name, "acls": [
            {"acltype": "publishClientSend", "topic": format!("{prefix}/{vehicle_id}/#"), "allow": true}
        ]}),
        json!({"command": "createClient", "username": name, "password": password,
               "clientid": name, "roles": [{"rolename": name}]}),
    ]
}

/// Creates or rotates `vehicle_id`'s tracker account; returns what the tracker needs.
pub async fn issue_tracker(
    admin: &Admin,
    prefix: &str,
    vehicle_id: &str,
) -> Result<TrackerAccount, BrokerError> {
    let password = new_password();
    apply(admin, tracker_commands(prefix, vehicle_id, &password)).await?;
    Ok(TrackerAccount {
        username: tracker_name(vehicle_id),
        password,
    })
}

/// Deletes `vehicle_id`'s tracker account (disconnecting the tracker); done when it exists
/// no more, whether or not it did.
pub async fn revoke_tracker(admin: &Admin, vehicle_id: &str) -> Result<(), BrokerError> {
    let name = tracker_name(vehicle_id);
    apply(
        admin,
        vec![
            json!({"command": "deleteClient", "username": name}),
            json!({"command": "deleteRole", "rolename": name}),
        ],
    )
    .await
}

/// What the daemon may do: subscribe to telemetry (plainly or in its share group) and to
/// its canary topics, receive both, and publish its canary probes and its events. Nothing
/// else.
pub fn daemon_acls(config: &Config) -> Vec<Value> {
    let prefix = &config.mqtt.topic_prefix;
    let group = &config.mqtt.share_group;
    let acl =
        |acltype: &str, topic: String| json!({"acltype": acltype, "topic": topic, "allow": true});
    let mut acls = Vec::new();
    for filter in [format!("{prefix}/#"), format!("{prefix}-canary/#")] {
        acls.push(acl("subscribePattern", format!("$share/{group}/{filter}")));
        acls.push(acl("subscribePattern", filter.clone()));
        acls.push(acl("publishClientReceive", filter));
    }
    acls.push(acl("publishClientSend", format!("{prefix}-canary/#")));
    // The events, with `mqtt.publish_events`.
    acls.push(acl(
        "publishClientSend",
        format!("{}/#", config.mqtt.events_prefix),
    ));
    // The broker's counters, for /metrics.
    acls.push(acl("subscribePattern", "$SYS/broker/#".to_string()));
    acls.push(acl("publishClientReceive", "$SYS/broker/#".to_string()));
    acls
}

/// `fleetd broker setup`: the broker refuses by default what no role allows (publishing,
/// subscribing, receiving), and the daemon's account `mqtt.username` exists with
/// `mqtt.password` and the rights of [`daemon_acls`]. Re-running it resets both (a daemon
/// connected meanwhile is disconnected and reconnects with the current password).
pub async fn setup(admin: &Admin, config: &Config) -> Result<(), BrokerError> {
    let user = &config.mqtt.username;
    if user.is_empty() {
        return Err(BrokerError::Refused {
            command: "setup".into(),
            error: "mqtt.username is empty: the daemon needs an account".into(),
        });
    }
    let role = daemon_role(user);
    apply(
        admin,
        vec![
            json!({"command": "setDefaultACLAccess", "acls": [
                {"acltype": "publishClientSend", "allow": false},
                {"acltype": "publishClientReceive", "allow": false},
                {"acltype": "subscribe", "allow": false},
                {"acltype": "unsubscribe", "allow": true}
            ]}),
            json!({"command": "deleteClient", "username": user}),
            json!({"command": "deleteRole", "rolename": role}),
            json!({"command": "createRole", "rolename": role, "acls": daemon_acls(config)}),
            json!({"command": "createClient", "username": user,
                   "password": config.mqtt.password.expose(),
                   "roles": [{"rolename": role}]}),
        ],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tracker_may_publish_under_its_own_vehicle_only() {
        let c = tracker_commands("acme/fleet", "veh-1", "pw");
        assert_eq!(c[2]["acls"][0]["topic"], "acme/fleet/veh-1/#");
        assert_eq!(c[2]["acls"][0]["acltype"], "publishClientSend");
        assert_eq!(c[3]["clientid"], "tracker-veh-1");
        assert_eq!(c[3]["username"], "tracker-veh-1");
        // Deleting first makes it a rotation as well as a creation.
        assert_eq!(c[0]["command"], "deleteClient");
    }

    #[test]
    fn passwords_are_long_random_and_url_safe() {
        let (a, b) = (new_password(), new_password());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn the_daemon_subscribes_to_telemetry_and_canaries_and_publishes_canaries_and_events() {
        let mut config = Config::default();
        config.mqtt.topic_prefix = "fleet".into();
        config.mqtt.share_group = "g".into();
        let topics: Vec<(String, String)> = daemon_acls(&config)
            .iter()
            .map(|a| {
                (
                    a["acltype"].as_str().unwrap().into(),
                    a["topic"].as_str().unwrap().into(),
                )
            })
            .collect();
        let subs: Vec<&str> = topics
            .iter()
            .filter(|(t, _)| t == "subscribePattern")
            .map(|(_, f)| f.as_str())
            .collect();
        assert_eq!(
            subs,
            [
                "$share/g/fleet/#",
                "fleet/#",
                "$share/g/fleet-canary/#",
                "fleet-canary/#",
                "$SYS/broker/#"
            ]
        );
        let sends: Vec<&str> = topics
            .iter()
            .filter(|(t, _)| t == "publishClientSend")
            .map(|(_, f)| f.as_str())
            .collect();
        assert_eq!(sends, ["fleet-canary/#", "fleetd/events/#"]);
    }
}
