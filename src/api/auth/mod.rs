//! Authentication and users: passwords ([`password`], argon2id), tokens ([`token`], HS256
//! JWTs carrying the role), the [`Caller`] extractor every authenticated handler takes
//! ([`caller`]), whether a token's user may still act ([`accounts`]), and logging in, out and
//! the first admin ([`login`]), the token pair they answer with ([`grant`]) and its renewal
//! ([`refresh`]). User accounts are managed
//! in [`crate::api::fleet::users`].

pub mod accounts;
pub mod caller;
pub mod grant;
pub mod login;
pub mod password;
pub mod refresh;
pub mod roles;
pub mod token;

pub use caller::Caller;
pub use roles::{Role, ADMIN, ANY, STAFF};

use crate::api::routes::Routes;

/// Login, logout and refresh.
pub fn routes(r: Routes) -> Routes {
    refresh::routes(login::routes(r))
}
