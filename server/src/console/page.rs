//! The page frame and the pieces pages share: the layout (navigation, who is signed in, the
//! sign-out form), links to subjects and versions, times, and the response headers every page
//! carries (a strict Content-Security-Policy among them).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use covenant_core::ids::QualifiedSubject;
use maud::{html, Markup, DOCTYPE};

/// The policy every console response carries: nothing but this server's own script and
/// style, no inline code, no frames, forms posting only here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the frame of a page needs to know about the request.
pub struct Frame {
    /// Who is signed in (`None`: anonymous).
    pub principal: Option<String>,
    /// Whether the server authenticates callers (otherwise there is no sign-in).
    pub auth: bool,
    /// Whether the caller came through a console session (and so can sign out).
    pub session: bool,
    /// Whether the caller may read the audit trail.
    pub audit: bool,
    /// The CSRF token forms carry.
    pub csrf: String,
    /// A CSRF nonce cookie to set with the response, when the browser had none.
    pub set_nonce: Option<String>,
    /// Whether the request came over HTTPS (cookies are `Secure` then).
    pub https: bool,
}

impl Frame {
    /// The hidden CSRF field of a form.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }
}

/// A page in the frame.
pub fn layout(frame: &Frame, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Covenant" }
                link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/ui/assets/console.css";
                script src="/ui/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    nav aria-label="Main" {
                        a.brand href="/ui/" { "Covenant" }
                        a href="/ui/" { "Subjects" }
                        @if frame.audit { a href="/ui/audit" { "Audit" } }
                    }
                    div.who {
                        @match &frame.principal {
                            Some(name) => { span { "Signed in as " strong { (name) } } }
                            None if frame.auth => { span { "Anonymous" } }
                            None => { span { "No authentication configured" } }
                        }
                        @if frame.session {
                            form method="post" action="/ui/logout" {
                                (frame.csrf_field())
                                button type="submit" { "Sign out" }
                            }
                        } @else if frame.auth && frame.principal.is_none() {
                            a href="/ui/login" { "Sign in" }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An HTML response with the console's headers.
pub fn respond(frame: Option<&Frame>, status: StatusCode, markup: Markup) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    headers(&mut response);
    if let Some(frame) = frame {
        if let Some(nonce) = &frame.set_nonce {
            response.append_header((
                header::SET_COOKIE,
                cookie(super::session::CSRF_COOKIE, nonce, frame.https, None),
            ));
        }
    }
    response.body(markup.into_string())
}

/// The headers every console response carries.
pub fn headers(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .insert_header((
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
}

/// A `Set-Cookie` value for a console cookie; `max_age` 0 removes it.
pub fn cookie(name: &str, value: &str, https: bool, max_age: Option<u64>) -> String {
    let mut cookie = format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Strict");
    if https {
        cookie.push_str("; Secure");
    }
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    cookie
}

/// Percent-encodes a query value.
pub fn q(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The console address of a subject.
pub fn subject_href(subject: &QualifiedSubject) -> String {
    format!("/ui/subject?s={}", q(&subject.qualified()))
}

/// The console address of a version.
pub fn version_href(subject: &QualifiedSubject, version: i32) -> String {
    format!("/ui/schema?s={}&v={version}", q(&subject.qualified()))
}

/// A time as the console shows it (UTC, to the second).
pub fn time(ms: i64) -> String {
    let text = crate::registry::audit::rfc3339(ms);
    match text.split_once('.') {
        Some((seconds, _)) => format!("{} UTC", seconds.replace('T', " ")),
        None => text,
    }
}

/// An error page.
pub fn error_page(frame: Option<&Frame>, status: StatusCode, message: &str) -> HttpResponse {
    let title = match status.as_u16() {
        403 => "Not permitted",
        404 => "Not found",
        401 => "Sign in needed",
        400 | 422 => "The request is not valid",
        409 => "Refused",
        _ => "Something went wrong",
    };
    let body = html! {
        p.error role="alert" { (message) }
        p { a href="/ui/" { "Back to the subjects" } }
    };
    let markup = match frame {
        Some(frame) => layout(frame, title, body),
        None => html! {
            (DOCTYPE)
            html lang="en" {
                head { meta charset="utf-8"; title { (title) } link rel="stylesheet" href="/ui/assets/console.css"; }
                body { main { h1 { (title) } (body) } }
            }
        },
    };
    respond(frame, status, markup)
}
