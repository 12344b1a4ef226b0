//! Invoices (docs/invoices.md): [`model`] (the invoice, its tax and number rules),
//! [`issue`] (issuing, on demand and at completion), [`read`] (list and one), [`html`] (the
//! printable document) and [`void`].

pub mod html;
pub mod issue;
pub mod model;
pub mod read;
pub mod void;

use crate::api::routes::Routes;

/// Issuing, reading, the document, voiding.
pub fn routes(r: Routes) -> Routes {
    void::routes(html::routes(read::routes(issue::routes(r))))
}
