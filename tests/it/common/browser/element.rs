//! An element of the page and the commands on it.

use serde_json::{json, Value};

use super::Session;

/// The key of an element reference in W3C WebDriver's JSON.
pub(super) const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// An element of the page, found by [`Browser::find`] or [`Browser::find_all`].
pub struct Element {
    pub(super) session: Session,
    pub(super) id: String,
}

impl Element {
    pub async fn click(&self) {
        self.must("POST", "/click", json!({})).await;
    }

    /// Types `text` into the element (focused first).
    pub async fn send_keys(&self, text: &str) {
        self.must("POST", "/value", json!({ "text": text })).await;
    }

    /// The element's rendered text.
    pub async fn text(&self) -> String {
        let v = self.must("GET", "/text", Value::Null).await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// An attribute as the markup (or a script) set it; `None` if unset. What the user typed
    /// is the `value` [property](Element::property), not an attribute.
    pub async fn attr(&self, name: &str) -> Option<String> {
        let v = self
            .must("GET", &format!("/attribute/{name}"), Value::Null)
            .await;
        v.as_str().map(str::to_string)
    }

    /// A DOM property (`value`, `checked`, …); `null` if the element has none of that name.
    pub async fn property(&self, name: &str) -> Value {
        self.must("GET", &format!("/property/{name}"), Value::Null)
            .await
    }

    /// This element as a script argument ([`Browser::execute`]).
    pub fn arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    async fn must(&self, method: &'static str, path: &str, body: Value) -> Value {
        let path = format!("/element/{}{path}", self.id);
        self.session
            .call(method, path.clone(), body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }
}
