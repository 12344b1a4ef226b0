//! The browser harness ([`crate::common::browser`]): its WebDriver commands, the failure
//! artifacts and the teardown ([`harness`]); pages of a real daemon ([`pages`]); and the
//! proof that the browser reaches nothing but loopback ([`blocking`]).

mod blocking;
mod harness;
mod pages;
