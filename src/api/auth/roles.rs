//! Who may do what: the four roles and the role sets routes allow.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Dispatcher,
    Driver,
    Customer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dispatcher => "dispatcher",
            Role::Driver => "driver",
            Role::Customer => "customer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Admin, Role::Dispatcher, Role::Driver, Role::Customer]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Staff roles: they see every resource.
pub const STAFF: &[Role] = &[Role::Admin, Role::Dispatcher];
/// Everyone with a token.
pub const ANY: &[Role] = &[Role::Admin, Role::Dispatcher, Role::Driver, Role::Customer];
pub const ADMIN: &[Role] = &[Role::Admin];
