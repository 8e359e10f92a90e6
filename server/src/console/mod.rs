//! The web console at `/ui/`: server-rendered pages (maud) with one small script and one
//! style sheet, both compiled into the binary, nothing fetched from anywhere else.
//!
//! Every page is a thin handler like the API's: it reads the request, calls the registry
//! (`Registry::console_*`, or the same methods the REST API calls) with the request's
//! [`Caller`], and renders the answer, so the console obeys exactly the permissions the API
//! does. Who the caller is comes from the authentication middleware, which for `/ui/` paths
//! also reads the console's session cookie ([`session`]). Forms that change anything carry a
//! CSRF token and ask for confirmation first.

pub mod code;
mod page;
pub mod session;

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use covenant_core::api::{ConfigUpdateRequest, RegisterSchemaRequest, SchemaReference};
use covenant_core::ids::{CompatibilityLevel, ContextName, Mode, QualifiedSubject, VersionSpec};
use covenant_core::schema::SchemaType;
use maud::{html, Markup};

use crate::access::{Caller, Operation, Resource};
use crate::error::Error;
use crate::http::AppState;
use crate::persist::Scope;
use crate::registry::audit::AuditQuery;
use crate::registry::console::SubjectsQuery;
use code::{Formatted, Note};
use page::{layout, q, respond, subject_href, time, version_href, Frame};
use session::{Sessions, CSRF_COOKIE, SESSION_COOKIE};

type Data = web::Data<AppState>;

/// Rows of the subject list per page.
const PAGE_ROWS: usize = 100;
/// Field search hits shown at most.
const FIELD_HITS: usize = 200;

/// The console's own state: its sessions and CSRF key.
#[derive(Default)]
pub struct Console {
    /// Login sessions.
    pub sessions: Sessions,
}

/// Whether a path is the console's.
pub fn is_console(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// Console paths that need no credentials: the sign-in page and the assets.
pub fn is_public(path: &str) -> bool {
    path == "/ui/login" || path.starts_with("/ui/assets/")
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'r>(req: &'r actix_web::dev::RequestHead, name: &str) -> Option<&'r str> {
    req.headers
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The credentials of the request's console session: `Some(header)` for a live session
/// (`None` inside when the session has no header), `None` without one.
pub fn session_credentials(
    console: &Console,
    req: &actix_web::dev::RequestHead,
) -> Option<Option<Vec<u8>>> {
    console.sessions.credentials(cookie(req, SESSION_COOKIE)?)
}

/// Where an unauthenticated console request is sent: the sign-in page, coming back after.
pub fn to_login(req: &actix_web::dev::RequestHead) -> HttpResponse {
    let back = match req.uri.path_and_query() {
        Some(pq) if req.method == actix_web::http::Method::GET => pq.as_str().to_string(),
        _ => "/ui/".to_string(),
    };
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/ui/login?next={}", q(&back))))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .finish()
}

/// Registers the console's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ui").route(web::get().to(to_root)))
        .service(
            web::scope("/ui")
                .route("/", web::get().to(subjects))
                .route("/assets/{file}", web::get().to(asset))
                .route("/login", web::get().to(login_form))
                .route("/login", web::post().to(login))
                .route("/logout", web::post().to(logout))
                .route("/subject", web::get().to(subject))
                .route("/schema", web::get().to(schema))
                .route("/diff", web::get().to(diff))
                .route("/try", web::get().to(try_form))
                .route("/try", web::post().to(try_change))
                .route("/audit", web::get().to(audit))
                .route("/confirm", web::get().to(confirm))
                .route("/admin", web::post().to(admin))
                .default_service(web::to(not_found)),
        );
}

async fn to_root() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/ui/"))
        .finish()
}

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");
const ICON: &str = include_str!("assets/favicon.svg");

async fn asset(req: HttpRequest) -> HttpResponse {
    let (body, kind) = match req.match_info().get("file") {
        Some("console.css") => (CSS, "text/css; charset=utf-8"),
        Some("console.js") => (JS, "text/javascript; charset=utf-8"),
        Some("favicon.svg") => (ICON, "image/svg+xml"),
        _ => return page::error_page(None, StatusCode::NOT_FOUND, "No such asset."),
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, kind))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(body)
}

async fn not_found(req: HttpRequest, data: Data) -> HttpResponse {
    let frame = frame(&req, &data);
    page::error_page(
        Some(&frame),
        StatusCode::NOT_FOUND,
        &format!("The console has no page at {}.", req.path()),
    )
}

// ----------------------------------------------------------------------------- request helpers

fn caller(req: &HttpRequest) -> Caller {
    crate::http::params::caller(req)
}

fn console(data: &AppState) -> Arc<Console> {
    data.console.clone().unwrap_or_default()
}

/// The live session token of the request, if any.
fn live_session(req: &HttpRequest, console: &Console) -> Option<String> {
    let token = cookie(req.head(), SESSION_COOKIE)?;
    console
        .sessions
        .credentials(token)
        .map(|_| token.to_string())
}

fn frame(req: &HttpRequest, data: &AppState) -> Frame {
    let console = console(data);
    let caller = caller(req);
    let session = live_session(req, &console);
    let (nonce, set_nonce) = match cookie(req.head(), CSRF_COOKIE) {
        Some(nonce) if nonce.len() >= 16 => (nonce.to_string(), None),
        _ => {
            let nonce = session::random_token();
            (nonce.clone(), Some(nonce))
        }
    };
    Frame {
        principal: caller.principal().map(str::to_string),
        auth: data.auth.is_some(),
        session: session.is_some(),
        audit: data
            .registry
            .permits(&caller, Operation::Admin, Resource::Registry),
        csrf: console.sessions.csrf(&nonce, session.as_deref()),
        set_nonce,
        https: req.connection_info().scheme() == "https",
    }
}

/// The query string, decoded.
fn query(req: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A form body, bounded in size and time as API bodies are.
async fn form(payload: web::Payload, data: &AppState) -> Result<Vec<(String, String)>, Error> {
    let body = crate::http::params::body(payload, &data.body).await?;
    Ok(form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// Refuses a POST that did not come from a console form of this browser: a missing or wrong
/// CSRF token, or an `Origin` naming another host.
fn check_post(
    req: &HttpRequest,
    data: &AppState,
    fields: &[(String, String)],
) -> Result<(), Error> {
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let host = req.connection_info().host().to_string();
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o).ok())
            .is_some_and(|url| {
                let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                url.host_str().is_some_and(|h| format!("{h}{port}") == host)
            });
        if !same {
            return Err(Error::Forbidden {
                operation: Operation::Write,
                resource: "the console (a form posted from another origin)".into(),
            });
        }
    }
    let console = console(data);
    let session = live_session(req, &console);
    let nonce = cookie(req.head(), CSRF_COOKIE).unwrap_or_default();
    let given = get(fields, "csrf").unwrap_or_default();
    if console
        .sessions
        .csrf_matches(nonce, session.as_deref(), given)
    {
        Ok(())
    } else {
        Err(Error::Forbidden {
            operation: Operation::Write,
            resource: "the console (the form's CSRF token is missing or stale: reload the page and try again)".into(),
        })
    }
}

fn fail(frame: &Frame, error: &Error) -> HttpResponse {
    page::error_page(Some(frame), error.status_code(), &error.to_string())
}

fn subject_param(pairs: &[(String, String)]) -> Result<QualifiedSubject, Error> {
    let raw = get(pairs, "s").ok_or_else(|| Error::BadRequest("no subject (`s`) given".into()))?;
    Ok(QualifiedSubject::parse_in(
        &ContextName::default_context(),
        raw,
    )?)
}

fn version_param(pairs: &[(String, String)], name: &str) -> Result<Option<VersionSpec>, Error> {
    get(pairs, name)
        .map(|raw| raw.parse::<VersionSpec>().map_err(Error::from))
        .transpose()
}

fn see_other(location: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

fn badge(text: &str, class: &str) -> Markup {
    html! { span class=(format!("badge {class}")) { (text) } }
}

fn json_pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

// ----------------------------------------------------------------------------- sign-in

/// Where a sign-in returns to: a console page of this server, in printable ASCII (what
/// `to_login` writes), else the subject list.
fn safe_next(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with("/ui/") && n.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("/ui/")
}

async fn login_form(req: HttpRequest, data: Data) -> HttpResponse {
    let frame = frame(&req, &data);
    let pairs = query(&req);
    respond(
        Some(&frame),
        StatusCode::OK,
        login_page(&frame, safe_next(get(&pairs, "next")), "", None),
    )
}

fn login_page(frame: &Frame, next: &str, user: &str, problem: Option<&str>) -> Markup {
    let body = html! {
        @if !frame.auth {
            p { "This registry has no authentication configured: every caller may do everything. "
                a href="/ui/" { "Go to the subjects" } "." }
        } @else {
            @if let Some(problem) = problem { p.error role="alert" { (problem) } }
            div.cols {
                form.card method="post" action="/ui/login" {
                    h2 { "User name and password" }
                    (frame.csrf_field())
                    input type="hidden" name="next" value=(next);
                    label for="username" { "User name" }
                    input #username type="text" name="username" autocomplete="username" value=(user) required;
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required;
                    button type="submit" { "Sign in" }
                }
                form.card method="post" action="/ui/login" {
                    h2 { "API key or token" }
                    (frame.csrf_field())
                    input type="hidden" name="next" value=(next);
                    label for="token" { "API key, or a JWT when the server takes them" }
                    input #token type="password" name="token" autocomplete="off" required;
                    button type="submit" { "Sign in" }
                }
            }
            p.hint { "A client certificate signs you in without a form when the server asks for one." }
        }
    };
    layout(frame, "Sign in", body)
}

async fn login(req: HttpRequest, data: Data, payload: web::Payload) -> HttpResponse {
    let frame = frame(&req, &data);
    let fields = match form(payload, &data).await {
        Ok(fields) => fields,
        Err(error) => return fail(&frame, &error),
    };
    if let Err(error) = check_post(&req, &data, &fields) {
        return fail(&frame, &error);
    }
    let next = safe_next(get(&fields, "next")).to_string();
    let Some(authenticator) = &data.auth else {
        return see_other(next);
    };
    let user = get(&fields, "username").unwrap_or_default();
    let header = match (get(&fields, "token"), get(&fields, "password")) {
        (Some(token), _) => format!("Bearer {token}"),
        (None, Some(password)) if !user.is_empty() => {
            use base64::Engine as _;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        }
        _ => {
            return respond(
                Some(&frame),
                StatusCode::BAD_REQUEST,
                login_page(
                    &frame,
                    &next,
                    user,
                    Some("Give a user name and password, or a key."),
                ),
            )
        }
    };
    let source = req.peer_addr().map(|a| a.ip());
    let certificate = req
        .conn_data::<crate::http::auth::PeerPrincipal>()
        .map(|p| p.0.clone());
    match authenticator
        .authenticate(Some(header.as_bytes()), certificate.as_deref(), source)
        .await
    {
        Ok(identity) if identity.name.is_some() => {
            let console = console(&data);
            if let Some(old) = cookie(req.head(), SESSION_COOKIE) {
                console.sessions.end(old);
            }
            let principal = identity.name.clone().unwrap_or_default();
            let token = console
                .sessions
                .start(&principal, Some(header.into_bytes()));
            tracing::info!(target: "covenant::console", principal = identity.name.as_deref(), "console sign-in");
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, next))
                .insert_header((
                    header::SET_COOKIE,
                    page::cookie(
                        SESSION_COOKIE,
                        &token,
                        frame.https,
                        Some(session::LIFETIME.as_secs()),
                    ),
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        Ok(_) | Err(crate::auth::Refusal::Unauthorized) => respond(
            Some(&frame),
            StatusCode::UNAUTHORIZED,
            login_page(
                &frame,
                &next,
                user,
                Some("Those credentials were not accepted."),
            ),
        ),
        Err(crate::auth::Refusal::TooManyFailures(wait)) => respond(
            Some(&frame),
            StatusCode::TOO_MANY_REQUESTS,
            login_page(
                &frame,
                &next,
                user,
                Some(&format!(
                    "Too many failed sign-ins from this address; try again in {} s.",
                    wait.as_secs().max(1)
                )),
            ),
        ),
    }
}

async fn logout(req: HttpRequest, data: Data, payload: web::Payload) -> HttpResponse {
    let frame = frame(&req, &data);
    let fields = match form(payload, &data).await {
        Ok(fields) => fields,
        Err(error) => return fail(&frame, &error),
    };
    if let Err(error) = check_post(&req, &data, &fields) {
        return fail(&frame, &error);
    }
    if let Some(token) = cookie(req.head(), SESSION_COOKIE) {
        console(&data).sessions.end(token);
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/ui/login"))
        .insert_header((
            header::SET_COOKIE,
            page::cookie(SESSION_COOKIE, "", frame.https, Some(0)),
        ))
        .finish()
}

// ----------------------------------------------------------------------------- subjects

async fn subjects(req: HttpRequest, data: Data) -> HttpResponse {
    let frame = frame(&req, &data);
    let caller = caller(&req);
    let pairs = query(&req);
    let field = get(&pairs, "field").unwrap_or_default().to_string();
    let name = get(&pairs, "q").unwrap_or_default().to_string();
    let context = match get(&pairs, "context").map(ContextName::parse).transpose() {
        Ok(context) => context,
        Err(error) => return fail(&frame, &error.into()),
    };
    let schema_type = match get(&pairs, "type")
        .map(|t| SchemaType::from_request(Some(t)))
        .transpose()
    {
        Ok(t) => t,
        Err(error) => return fail(&frame, &error.into()),
    };
    let deleted = get(&pairs, "deleted").is_some();
    // Past the last page is the last page (and no offset overflows).
    let page_number = get(&pairs, "page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, usize::MAX / PAGE_ROWS);
    let list = data.registry.console_subjects(
        &caller,
        &SubjectsQuery {
            context: context.clone(),
            schema_type,
            deleted,
            name: name.clone(),
            offset: (page_number - 1) * PAGE_ROWS,
            limit: PAGE_ROWS,
        },
    );
    let hits = if field.trim().is_empty() {
        None
    } else {
        match data
            .registry
            .search_fields(&caller, &field, FIELD_HITS)
            .await
        {
            Ok(hits) => Some(hits),
            Err(error) => return fail(&frame, &error),
        }
    };
    let type_name = |t: SchemaType| t.to_string();
    let pages = list.total.div_ceil(PAGE_ROWS).max(1);
    let link_to_page = |n: usize| {
        let mut pairs: Vec<(String, String)> =
            pairs.iter().filter(|(k, _)| k != "page").cloned().collect();
        pairs.push(("page".into(), n.to_string()));
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("/ui/?{query}")
    };
    let body = html! {
        section.search aria-label="Search" {
            form.inline method="get" action="/ui/" role="search" {
                label for="field" { "Field name, in every schema of every format" }
                input #field type="search" name="field" value=(field) placeholder="customer_id" data-shortcut="/";
                button type="submit" { "Find fields" }
            }
        }
        @if let Some((hits, more)) = &hits {
            section aria-labelledby="hits-title" {
                h2 #hits-title { "Fields matching “" (field) "”: " (hits.len()) @if *more { "+" } }
                @if *more { p.hint { "More schemas declare such a field: the newest are shown; give more of the name to narrow it." } }
                @if hits.is_empty() {
                    p { "No schema declares a field with that name." }
                } @else {
                    table.list {
                        thead { tr { th { "Subject" } th { "Version" } th { "Format" } th { "Field" } th { "Path" } th { "Tags" } } }
                        tbody {
                            @for hit in hits {
                                tr {
                                    td { a href=(subject_href(&hit.subject)) { (hit.subject.qualified()) } }
                                    td { (hit.version.get()) }
                                    td { (type_name(hit.schema_type)) }
                                    td { a.field-hit href=(format!("{}&field={}#field", version_href(&hit.subject, hit.version.get()), q(&hit.path))) { (hit.field) } }
                                    td { code { (hit.path) } }
                                    td { (hit.tags.join(", ")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="subjects-title" {
            h2 #subjects-title { "Subjects: " (list.total) }
            form.filters method="get" action="/ui/" {
                label for="q" { "Name contains" }
                input #q type="search" name="q" value=(name);
                label for="context" { "Context" }
                select #context name="context" {
                    option value="" { "every context" }
                    @for c in &list.contexts {
                        option value=(c) selected[context.as_ref().is_some_and(|x| x.to_string() == *c)] { (c) }
                    }
                }
                label for="type" { "Format" }
                select #type name="type" {
                    option value="" { "every format" }
                    @for t in [SchemaType::Avro, SchemaType::Json, SchemaType::Protobuf] {
                        option value=(type_name(t)) selected[schema_type == Some(t)] { (type_name(t)) }
                    }
                }
                label.check { input type="checkbox" name="deleted" value="1" checked[deleted]; " with soft-deleted subjects" }
                button type="submit" { "Filter" }
            }
            @if list.rows.is_empty() {
                p { "No subject matches." }
            } @else {
                table.list #subjects {
                    thead { tr { th { "Subject" } th { "Format" } th { "Versions" } th { "Latest" } th { "Semantic version" } th { "Level" } th { "Mode" } } }
                    tbody {
                        @for row in &list.rows {
                            tr {
                                td { a href=(subject_href(&row.subject)) { (row.subject.qualified()) } }
                                td { (type_name(row.schema_type)) }
                                td { (row.live) @if row.deleted > 0 { " (+" (row.deleted) " deleted)" } }
                                td { a href=(version_href(&row.subject, row.latest.get())) { (row.latest.get()) } }
                                td { (row.semver.as_deref().unwrap_or("—")) }
                                td { (row.level.to_string()) }
                                td { (row.mode.to_string()) }
                            }
                        }
                    }
                }
                @if pages > 1 {
                    nav.pages aria-label="Pages" {
                        @if page_number > 1 { a href=(link_to_page(page_number - 1)) rel="prev" { "Previous" } }
                        span { "Page " (page_number) " of " (pages) }
                        @if page_number < pages { a href=(link_to_page(page_number + 1)) rel="next" { "Next" } }
                    }
                }
            }
        }
    };
    respond(
        Some(&frame),
        StatusCode::OK,
        layout(&frame, "Subjects", body),
    )
}

// ----------------------------------------------------------------------------- one subject

async fn subject(req: HttpRequest, data: Data) -> HttpResponse {
    let frame = frame(&req, &data);
    let caller = caller(&req);
    let pairs = query(&req);
    let subject = match subject_param(&pairs) {
        Ok(subject) => subject,
        Err(error) => return fail(&frame, &error),
    };
    let view = match data.registry.console_subject(&caller, &subject).await {
        Ok(view) => view,
        Err(error) => return fail(&frame, &error),
    };
    let registry = &data.registry;
    let scope = Scope::Subject(subject.clone());
    let may_config = registry.permits(&caller, Operation::Config, Resource::Scope(&scope));
    let may_mode = registry.permits(&caller, Operation::Mode, Resource::Scope(&scope));
    let may_delete = registry.permits(&caller, Operation::Delete, Resource::Subject(&subject));
    let may_write = registry.permits(&caller, Operation::Write, Resource::Subject(&subject));
    let s = q(&subject.qualified());
    let level = view
        .config
        .iter()
        .find(|(key, _, _)| *key == "compatibilityLevel")
        .map(|(_, value, _)| value.clone())
        .unwrap_or_default();
    let live: Vec<_> = view.timeline.iter().filter(|t| !t.deleted).collect();
    let all_deleted = live.is_empty();
    let body = html! {
        @if let Some(done) = get(&pairs, "done") { p.done role="status" { (done) } }
        p.actions {
            @if !all_deleted { a.button href=(format!("/ui/try?s={s}")) { "Try a change" } }
        }
        section aria-labelledby="timeline-title" {
            h2 #timeline-title { "Versions" }
            ol.timeline {
                @for (index, entry) in view.timeline.iter().enumerate() {
                    li class=(if entry.deleted { "deleted" } else { "" }) {
                        a href=(version_href(&subject, entry.version.get())) { "Version " (entry.version.get()) }
                        @if let Some((semver, bump)) = &entry.semver {
                            " · " span.semver { (semver) } @if let Some(bump) = bump { " (" (bump) ")" }
                        }
                        " · id " (entry.id.get()) " · " (entry.schema_type.to_string())
                        " · " time { (time(entry.ts)) }
                        " · by " (entry.principal.as_deref().unwrap_or("anonymous"))
                        @if entry.deleted { " · " (badge("soft-deleted", "deleted")) }
                        @if index > 0 {
                            " · " a href=(format!("/ui/diff?s={s}&from={}&to={}", view.timeline[index - 1].version.get(), entry.version.get())) { "diff with " (view.timeline[index - 1].version.get()) }
                        }
                    }
                }
            }
            @if view.timeline.len() > 1 {
                form.inline method="get" action="/ui/diff" {
                    input type="hidden" name="s" value=(subject.qualified());
                    label for="from" { "Compare version" }
                    select #from name="from" { @for t in &view.timeline { option value=(t.version.get()) selected[t.version == view.timeline[view.timeline.len() - 2].version] { (t.version.get()) } } }
                    label for="to" { "with" }
                    select #to name="to" { @for t in &view.timeline { option value=(t.version.get()) selected[t.version == view.timeline[view.timeline.len() - 1].version] { (t.version.get()) } } }
                    button type="submit" { "Compare" }
                }
            }
        }
        section aria-labelledby="settings-title" {
            h2 #settings-title { "Settings in force" }
            table.list {
                thead { tr { th { "Setting" } th { "Value" } th { "From" } } }
                tbody {
                    @for (key, value, source) in &view.config {
                        tr { td { (key) } td { code { (value) } } td { (source.as_str()) } }
                    }
                    tr { td { "mode" } td { code { (view.mode.0.to_string()) } } td { (view.mode.1.as_str()) } }
                }
            }
        }
        section aria-labelledby="contract-title" {
            h2 #contract-title { "Data contract (latest version)" }
            @if view.metadata.is_none() && view.rule_set.is_none() {
                p { "No metadata and no rules." }
            }
            @if let Some(metadata) = &view.metadata {
                h3 { "Metadata" }
                @if let Some(tags) = metadata.get("tags").and_then(|t| t.as_object()) {
                    ul { @for (path, names) in tags { li { code { (path) } ": " (names.as_array().map(|a| a.iter().filter_map(|n| n.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default()) } } }
                }
                pre.json { (json_pretty(metadata)) }
            }
            @if let Some(rules) = &view.rule_set {
                h3 { "Rules" }
                @for group in ["domainRules", "migrationRules", "encodingRules"] {
                    @if let Some(list) = rules.get(group).and_then(|r| r.as_array()).filter(|l| !l.is_empty()) {
                        table.list {
                            caption { (group) }
                            thead { tr { th { "Name" } th { "Kind" } th { "Mode" } th { "Type" } th { "Tags" } th { "Expression" } th { "On failure" } } }
                            tbody {
                                @for rule in list {
                                    @let text = |k: &str| rule.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
                                    tr {
                                        td { (text("name")) } td { (text("kind")) } td { (text("mode")) } td { (text("type")) }
                                        td { (rule.get("tags").and_then(|t| t.as_array()).map(|a| a.iter().filter_map(|n| n.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                                        td { code { (text("expr")) } }
                                        td { (text("onFailure")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="refs-title" {
            h2 #refs-title { "References" }
            h3 { "This subject references" }
            @if view.references.is_empty() { p { "Nothing." } } @else {
                ul { @for r in &view.references {
                    @let target = QualifiedSubject::parse_in(subject.context(), &r.subject);
                    li { code { (r.name) } " → "
                        @match &target { Ok(t) => { a href=(version_href(t, r.version)) { (t.qualified()) " version " (r.version) } } Err(_) => { (r.subject) " version " (r.version) } } }
                } }
            }
            h3 { "Referenced by" }
            @if view.referrers.is_empty() { p { "No schema references this subject." } } @else {
                ul { @for (referrer, version, referenced) in &view.referrers {
                    li { a href=(version_href(referrer, version.get())) { (referrer.qualified()) " version " (version.get()) } " (references version " (referenced) ")" }
                } }
            }
        }
        @if may_config || may_mode || may_delete {
            section.admin aria-labelledby="admin-title" {
                h2 #admin-title { "Administration" }
                p.hint { "Each action asks for confirmation before it changes anything." }
                @if may_config {
                    form.inline method="get" action="/ui/confirm" {
                        input type="hidden" name="s" value=(subject.qualified());
                        input type="hidden" name="action" value="level";
                        label for="level" { "Compatibility level" }
                        select #level name="value" { @for l in CompatibilityLevel::ALL.map(CompatibilityLevel::as_str) { option value=(l) selected[level == l] { (l) } } }
                        button type="submit" { "Set level…" }
                    }
                }
                @if may_mode {
                    form.inline method="get" action="/ui/confirm" {
                        input type="hidden" name="s" value=(subject.qualified());
                        input type="hidden" name="action" value="mode";
                        label for="mode" { "Mode" }
                        select #mode name="value" { @for m in ["READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT"] { option value=(m) selected[view.mode.0.to_string() == m] { (m) } } }
                        button type="submit" { "Set mode…" }
                    }
                }
                @if may_delete {
                    form.inline method="get" action="/ui/confirm" {
                        input type="hidden" name="s" value=(subject.qualified());
                        input type="hidden" name="action" value="delete-version";
                        label for="version" { "Version" }
                        select #version name="version" { @for t in &view.timeline { option value=(t.version.get()) { (t.version.get()) @if t.deleted { " (soft-deleted)" } } } }
                        label.check { input type="checkbox" name="permanent" value="1"; " permanently" }
                        button.danger type="submit" { "Delete version…" }
                    }
                    form.inline method="get" action="/ui/confirm" {
                        input type="hidden" name="s" value=(subject.qualified());
                        input type="hidden" name="action" value="delete-subject";
                        label.check { input type="checkbox" name="permanent" value="1"; " permanently (after a soft delete)" }
                        button.danger type="submit" { "Delete subject…" }
                    }
                }
            }
        }
        @if !may_write && !all_deleted { p.hint { "You may read this subject but not register versions of it." } }
    };
    respond(
        Some(&frame),
        StatusCode::OK,
        layout(&frame, &subject.qualified(), body),
    )
}

// ----------------------------------------------------------------------------- one version

async fn schema(req: HttpRequest, data: Data) -> HttpResponse {
    let frame = frame(&req, &data);
    let caller = caller(&req);
    let pairs = query(&req);
    let (subject, spec) = match subject_param(&pairs).and_then(|s| {
        Ok((
            s,
            version_param(&pairs, "v")?.unwrap_or(VersionSpec::Latest),
        ))
    }) {
        Ok(found) => found,
        Err(error) => return fail(&frame, &error),
    };
    let version = match data
        .registry
        .get_version(&caller, &subject, spec, true, None)
    {
        Ok(version) => version,
        Err(error) => return fail(&frame, &error),
    };
    let schema_type =
        SchemaType::from_request(version.schema_type.as_deref()).unwrap_or(SchemaType::Avro);
    let semver = data
        .registry
        .subject_semvers(&caller, &subject, true)
        .ok()
        .and_then(|all| all.into_iter().find(|v| v.version == version.version))
        .and_then(|v| v.semver);
    let field = get(&pairs, "field");
    let code = {
        let (text, path) = (version.schema.clone(), field.map(str::to_string));
        crate::work::run(async move {
            let mut formatted = Formatted::new(schema_type, &text);
            formatted.mark_tags();
            if let Some(path) = &path {
                formatted.mark_field(path);
            }
            Ok(formatted.render("schema text", ""))
        })
        .await
    };
    let code = match code {
        Ok(code) => code,
        Err(error) => return fail(&frame, &error),
    };
    let s = q(&subject.qualified());
    let body = html! {
        dl.meta {
            dt { "Subject" } dd { a href=(subject_href(&subject)) { (subject.qualified()) } }
            dt { "Version" } dd { (version.version) @if version.deleted == Some(true) { " " (badge("soft-deleted", "deleted")) } }
            @if let Some(semver) = &semver {
                dt { "Semantic version" } dd { (semver.version) @if let Some(bump) = &semver.bump { " (" (bump) " against version " (semver.against.unwrap_or_default()) ")" } }
                @if !semver.reasons.is_empty() { dt { "Why" } dd { ul { @for reason in &semver.reasons { li { (reason) } } } } }
            }
            dt { "Schema id" } dd { (version.id) }
            @if let Some(guid) = &version.guid { dt { "GUID" } dd { code { (guid) } } }
            dt { "Format" } dd { (schema_type.to_string()) }
            @if let Some(ts) = version.ts { dt { "Registered" } dd { (time(ts)) } }
        }
        p.actions {
            @if version.version > 1 { a.button href=(format!("/ui/diff?s={s}&to={}", version.version)) { "Diff with the previous version" } }
            a.button href=(format!("/subjects/{}/versions/{}/schema", percent_encoding::utf8_percent_encode(&subject.qualified(), percent_encoding::NON_ALPHANUMERIC), version.version)) { "Raw text" }
        }
        @if !version.references.is_empty() {
            section aria-labelledby="refs-title" {
                h2 #refs-title { "References" }
                ul { @for r in &version.references {
                    @let target = QualifiedSubject::parse_in(subject.context(), &r.subject);
                    li { code { (r.name) } " → "
                        @match &target { Ok(t) => { a href=(version_href(t, r.version)) { (t.qualified()) " version " (r.version) } } Err(_) => { (r.subject) } } }
                } }
            }
        }
        section aria-labelledby="text-title" {
            h2 #text-title { "Schema" }
            @if let Some(path) = field { p { "The field at " code { (path) } " is marked " (badge("field", "field")) "." } }
            (code)
        }
        @if let Some(metadata) = &version.metadata { section { h2 { "Metadata" } pre.json { (json_pretty(metadata)) } } }
        @if let Some(rules) = &version.rule_set { section { h2 { "Rules" } pre.json { (json_pretty(rules)) } } }
    };
    respond(
        Some(&frame),
        StatusCode::OK,
        layout(
            &frame,
            &format!("{} version {}", subject.qualified(), version.version),
            body,
        ),
    )
}

// ----------------------------------------------------------------------------- diff

async fn diff(req: HttpRequest, data: Data) -> HttpResponse {
    let frame = frame(&req, &data);
    let caller = caller(&req);
    let pairs = query(&req);
    let parsed = subject_param(&pairs).and_then(|s| {
        Ok((
            s,
            version_param(&pairs, "from")?,
            version_param(&pairs, "to")?.unwrap_or(VersionSpec::Latest),
        ))
    });
    let (subject, from, to) = match parsed {
        Ok(found) => found,
        Err(error) => return fail(&frame, &error),
    };
    // Without `from`: the version before `to`.
    let from = match from {
        Some(from) => from,
        None => {
            let versions = data.registry.list_versions(
                &caller,
                &subject,
                crate::registry::query::Deleted {
                    include: true,
                    only: false,
                },
                false,
                Default::default(),
            );
            let versions = match versions {
                Ok(v) => v,
                Err(error) => return fail(&frame, &error),
            };
            let to_number = match to {
                VersionSpec::Number(n) => n.get(),
                _ => versions.last().copied().unwrap_or(1),
            };
            match versions.iter().rev().find(|v| **v < to_number) {
                Some(v) => match covenant_core::ids::Version::new(i64::from(*v)) {
                    Some(v) => VersionSpec::Number(v),
                    None => return fail(&frame, &Error::BadRequest(format!("no version {v}"))),
                },
                None => {
                    return fail(
                        &frame,
                        &Error::BadRequest("there is no earlier version to compare with".into()),
                    )
                }
            }
        }
    };
    let registry = Arc::clone(&data.registry);
    let worked = {
        let (caller, subject) = (caller.clone(), subject.clone());
        crate::work::run(async move { registry.console_diff(&caller, &subject, from, to) }).await
    };
    let view = match worked {
        Ok(view) => view,
        Err(error) => return fail(&frame, &error),
    };
    // Formatting, placing the notes and highlighting cost what the texts cost: off the HTTP
    // workers, as parsing is.
    let (old_code, new_code, unplaced) = match crate::work::run({
        let view = view.clone();
        async move { Ok(place_diff_notes(&view)) }
    })
    .await
    {
        Ok(rendered) => rendered,
        Err(error) => return fail(&frame, &error),
    };
    let backward_ok = view.backward.is_empty();
    let forward_ok = view.forward.is_empty();
    let first_path = |problems: &[covenant_core::compat::Incompatibility]| {
        problems.first().map(|p| p.path.clone()).unwrap_or_default()
    };
    let verdicts: Vec<(CompatibilityLevel, bool, String)> = CompatibilityLevel::ALL
        .iter()
        .map(|level| {
            let (ok, at) = match (level.checks_backward(), level.checks_forward()) {
                (false, false) => (true, String::new()),
                (true, false) => (backward_ok, first_path(&view.backward)),
                (false, true) => (forward_ok, first_path(&view.forward)),
                (true, true) => (
                    backward_ok && forward_ok,
                    if backward_ok {
                        first_path(&view.forward)
                    } else {
                        first_path(&view.backward)
                    },
                ),
            };
            (*level, ok, at)
        })
        .collect();
    let summary = {
        let mut parts = Vec::new();
        let mut ok: Vec<String> = Vec::new();
        let mut broken: Vec<String> = Vec::new();
        for (level, good, at) in &verdicts {
            if matches!(
                level,
                CompatibilityLevel::BackwardTransitive
                    | CompatibilityLevel::ForwardTransitive
                    | CompatibilityLevel::FullTransitive
                    | CompatibilityLevel::None
            ) {
                continue;
            }
            if *good {
                ok.push(level.to_string())
            } else {
                broken.push(format!("{level} at {at}"))
            }
        }
        if !ok.is_empty() {
            parts.push(format!("compatible under {}", ok.join(", ")));
        }
        if !broken.is_empty() {
            parts.push(format!("breaks {}", broken.join("; breaks ")));
        }
        parts.join("; ")
    };
    let s = q(&subject.qualified());
    let body = html! {
        p.verdict role="status" { "Version " (view.new.version.get()) " against version " (view.old.version.get()) ": " strong { (summary) } "." }
        table.list.verdicts {
            caption { "Verdict per level (the pair alone: with two versions, a transitive level decides as its plain one)" }
            thead { tr { th { "Level" } th { "Verdict" } th { "First problem at" } } }
            tbody {
                @for (level, ok, at) in &verdicts {
                    tr class=(if *level == view.level { "current" } else { "" }) {
                        td { (level.to_string()) @if *level == view.level { " (in force)" } }
                        td { @if *ok { (badge("✓ compatible", "ok")) } @else { (badge("✗ breaks", "breaks")) } }
                        td { code { (at) } }
                    }
                }
            }
        }
        @if !unplaced.is_empty() {
            h2 { "Findings not tied to a line" }
            ul { @for (direction, text) in &unplaced { li { (badge(&format!("✗ breaks {direction}"), "breaks")) " " (text) } } }
        }
        h2 { "Changes: " (view.changes.len()) }
        @if view.changes.is_empty() { p { "No semantic change." } }
        @else {
            ul.changes { @for change in &view.changes {
                li { code { (change.kind) } " at " code { (change.path) }
                    @if !change.backward_compatible { " " (badge("breaks readers of old data", "breaks")) } }
            } }
        }
        form.inline method="get" action="/ui/diff" {
            input type="hidden" name="s" value=(subject.qualified());
            label for="from" { "From version" } input #from type="number" min="1" name="from" value=(view.old.version.get());
            label for="to" { "to version" } input #to type="number" min="1" name="to" value=(view.new.version.get());
            button type="submit" { "Compare" }
        }
        div.sides {
            section aria-labelledby="old-title" {
                h2 #old-title { a href=(format!("/ui/schema?s={s}&v={}", view.old.version.get())) { "Version " (view.old.version.get()) } @if let Some(v) = &view.old.semver { " · " (v) } }
                (old_code)
            }
            section aria-labelledby="new-title" {
                h2 #new-title { a href=(format!("/ui/schema?s={s}&v={}", view.new.version.get())) { "Version " (view.new.version.get()) } @if let Some(v) = &view.new.semver { " · " (v) } }
                (new_code)
            }
        }
    };
    respond(
        Some(&frame),
        StatusCode::OK,
        layout(&frame, &format!("{}: diff", subject.qualified()), body),
    )
}

/// Both sides of a diff formatted, each finding under the line its path names exactly (on the
/// reading side first: the new schema for BACKWARD, the old for FORWARD, then the other side,
/// then the nearest line on the reading side), each change under its line, tagged fields
/// marked; and the findings no line names.
fn place_diff_notes(
    view: &crate::registry::console::DiffView,
) -> (Markup, Markup, Vec<(&'static str, String)>) {
    let mut old = Formatted::new(view.old.schema_type, &view.old.text);
    let mut new = Formatted::new(view.new.schema_type, &view.new.text);
    old.mark_tags();
    new.mark_tags();
    let mut unplaced = Vec::new();
    // (on the new side, line, note)
    let mut placed: Vec<(bool, usize, Note)> = Vec::new();
    {
        let (old_lines, new_lines) = (old.locator(), new.locator());
        let side = |new_side: bool| if new_side { &new_lines } else { &old_lines };
        for (direction, problems, reader_is_new) in [
            ("BACKWARD", &view.backward, true),
            ("FORWARD", &view.forward, false),
        ] {
            for problem in problems.iter().take(code::MAX_NOTES) {
                let mut text = format!(
                    "{} at {}: {}",
                    problem.kind, problem.path, problem.description
                );
                if let Some(hint) = &problem.hint {
                    text.push_str(&format!(" Hint: {hint}"));
                }
                let found = side(reader_is_new)
                    .exact(&problem.path)
                    .map(|line| (reader_is_new, line))
                    .or_else(|| {
                        side(!reader_is_new)
                            .exact(&problem.path)
                            .map(|line| (!reader_is_new, line))
                    })
                    .or_else(|| {
                        side(reader_is_new)
                            .nearest(&problem.path)
                            .map(|line| (reader_is_new, line))
                    });
                match found {
                    Some((new_side, line)) => placed.push((
                        new_side,
                        line,
                        Note {
                            class: "breaks",
                            badge: format!("✗ breaks {direction}"),
                            text,
                        },
                    )),
                    None => unplaced.push((direction, text)),
                }
            }
        }
        for change in view.changes.iter().take(code::MAX_NOTES) {
            let note = Note {
                class: "change",
                badge: if change.backward_compatible {
                    "change".to_string()
                } else {
                    "change (breaks readers)".to_string()
                },
                text: format!("{} at {}", change.kind, change.path),
            };
            // A removal's path is the old schema's (the new one may have another member at
            // the same index); every other change's is the new schema's.
            let removal = change.kind.contains("REMOVED") || change.kind.contains("DELETED");
            let order = if removal {
                [false, true]
            } else {
                [true, false]
            };
            if let Some((new_side, line)) = order
                .into_iter()
                .find_map(|new_side| Some((new_side, side(new_side).exact(&change.path)?)))
            {
                placed.push((new_side, line, note));
            }
        }
    }
    for (new_side, line, note) in placed {
        if new_side {
            new.add(line, note);
        } else {
            old.add(line, note);
        }
    }
    (
        old.render("old version", "old-"),
        new.render("new version", "new-"),
        unplaced,
    )
}

// ----------------------------------------------------------------------------- try a change

async fn try_form(req: HttpRequest, data: Data) -> HttpResponse {
    let frame = frame(&req, &data);
    let caller = caller(&req);
    let pairs = query(&req);
    let subject = match subject_param(&pairs) {
        Ok(subject) => subject,
        Err(error) => return fail(&frame, &error),
    };
    // Starts from the latest version, or empty for a subject that has none yet.
    let latest = data
        .registry
        .get_version(&caller, &subject, VersionSpec::Latest, false, None)
        .ok();
    let candidate = Candidate {
        schema: latest
            .as_ref()
            .map(|l| l.schema.clone())
            .unwrap_or_default(),
        schema_type: latest
            .as_ref()
            .and_then(|l| l.schema_type.clone())
            .unwrap_or_else(|| "AVRO".into()),
        references: latest
            .as_ref()
            .filter(|l| !l.references.is_empty())
            .map(|l| serde_json::to_string_pretty(&l.references).unwrap_or_default())
            .unwrap_or_default(),
    };
    let may_write = data
        .registry
        .permits(&caller, Operation::Write, Resource::Subject(&subject));
    respond(
        Some(&frame),
        StatusCode::OK,
        try_page(&frame, &subject, &candidate, None, may_write),
    )
}

struct Candidate {
    schema: String,
    schema_type: String,
    references: String,
}

struct Outcome {
    compatible: bool,
    level: String,
    findings: Vec<covenant_core::api::CompatibilityFinding>,
    messages: Vec<String>,
    semver: Option<covenant_core::api::VersionSemver>,
    rendered: Markup,
}

fn try_page(
    frame: &Frame,
    subject: &QualifiedSubject,
    candidate: &Candidate,
    outcome: Option<&Outcome>,
    may_write: bool,
) -> Markup {
    let body = html! {
        p { "Check a candidate against " a href=(subject_href(subject)) { (subject.qualified()) } "'s history under its level, and see the semantic version it would get. Nothing is registered unless you ask." }
        @if let Some(outcome) = outcome {
            section.outcome aria-labelledby="verdict-title" {
                h2 #verdict-title {
                    @if outcome.compatible { (badge("✓ compatible", "ok")) " under " (outcome.level) }
                    @else { (badge("✗ incompatible", "breaks")) " under " (outcome.level) }
                }
                @if let Some(semver) = &outcome.semver {
                    p.semver-preview { "Registering it would make version " strong { (semver.version) }
                        @if let Some(s) = &semver.semver { ", semantic version " strong { (s.version) } @if let Some(bump) = &s.bump { " (a " (bump) " change)" } } "." }
                    @if let Some(s) = &semver.semver { @if !s.reasons.is_empty() { ul { @for reason in &s.reasons { li { (reason) } } } } }
                }
                @if !outcome.findings.is_empty() {
                    table.list.findings {
                        thead { tr { th { "Kind" } th { "Path" } th { "Against version" } th { "What" } th { "Hint" } } }
                        tbody { @for f in &outcome.findings {
                            tr { td { code { (f.kind) } } td { code { (f.path) } } td { (f.version.map(|v| v.to_string()).unwrap_or_default()) } td { (f.description) } td { (f.hint.as_deref().unwrap_or("")) } }
                        } }
                    }
                } @else if !outcome.compatible {
                    ul { @for m in &outcome.messages { li { (m) } } }
                }
                (outcome.rendered)
            }
        }
        form.try method="post" action="/ui/try" {
            (frame.csrf_field())
            input type="hidden" name="s" value=(subject.qualified());
            label for="schemaType" { "Format" }
            select #schemaType name="schemaType" {
                @for t in ["AVRO", "JSON", "PROTOBUF"] { option value=(t) selected[candidate.schema_type == t] { (t) } }
            }
            label for="schema" { "Schema" }
            textarea #schema name="schema" rows="18" spellcheck="false" required { (candidate.schema) }
            label for="file" { "…or read it from a file" }
            input #file type="file" data-into="schema" accept=".avsc,.json,.proto,.txt";
            label for="references" { "References (JSON: name, subject, version), if any" }
            textarea #references name="references" rows="3" spellcheck="false" { (candidate.references) }
            div.buttons {
                button type="submit" name="action" value="check" { "Check" }
                @if may_write { button type="submit" name="action" value="register" { "Register" } }
            }
        }
    };
    layout(
        frame,
        &format!("Try a change: {}", subject.qualified()),
        body,
    )
}

async fn try_change(req: HttpRequest, data: Data, payload: web::Payload) -> HttpResponse {
    let frame = frame(&req, &data);
    let caller = caller(&req);
    let fields = match form(payload, &data).await {
        Ok(fields) => fields,
        Err(error) => return fail(&frame, &error),
    };
    if let Err(error) = check_post(&req, &data, &fields) {
        return fail(&frame, &error);
    }
    let subject = match subject_param(&fields) {
        Ok(subject) => subject,
        Err(error) => return fail(&frame, &error),
    };
    let candidate = Candidate {
        schema: get(&fields, "schema").unwrap_or_default().to_string(),
        schema_type: get(&fields, "schemaType").unwrap_or("AVRO").to_string(),
        references: get(&fields, "references").unwrap_or_default().to_string(),
    };
    let references: Option<Vec<SchemaReference>> = if candidate.references.trim().is_empty() {
        None
    } else {
        match serde_json::from_str(&candidate.references) {
            Ok(references) => Some(references),
            Err(e) => {
                return fail(
                    &frame,
                    &Error::BadRequest(format!(
                        "the references are not a JSON list of {{name, subject, version}}: {e}"
                    )),
                )
            }
        }
    };
    let request = RegisterSchemaRequest {
        schema: Some(candidate.schema.clone()),
        schema_type: Some(candidate.schema_type.clone()),
        references,
        ..RegisterSchemaRequest::default()
    };
    let may_write = data
        .registry
        .permits(&caller, Operation::Write, Resource::Subject(&subject));
    if get(&fields, "action") == Some("register") {
        let registry = Arc::clone(&data.registry);
        let (c, s, r) = (caller.clone(), subject.clone(), request.clone());
        let result =
            crate::work::run(async move { registry.register(&c, &s, &r, None).await }).await;
        return match result {
            Ok(registered) => see_other(format!(
                "{}&done={}",
                version_href(&subject, registered.version.unwrap_or(1)),
                q("Registered.")
            )),
            Err(error) => fail(&frame, &error),
        };
    }
    let registry = Arc::clone(&data.registry);
    let (c, s, r) = (caller.clone(), subject.clone(), request.clone());
    let checked = crate::work::run(async move {
        let check = registry.check_compatibility(&c, &s, None, &r, None, true)?;
        let semver = registry.preview_semver(&c, &s, &r).ok();
        let level = registry
            .get_config(&c, &Scope::Subject(s.clone()), true)
            .ok()
            .and_then(|config| config.compatibility_level)
            .unwrap_or_default();
        Ok((check, semver, level))
    })
    .await;
    let (check, semver, level) = match checked {
        Ok(found) => found,
        Err(error) => return fail(&frame, &error),
    };
    let schema_type =
        SchemaType::from_request(Some(&candidate.schema_type)).unwrap_or(SchemaType::Avro);
    let findings = check.findings.unwrap_or_default();
    // A candidate that did not parse is shown as given, without marks.
    let parsed = check.is_compatible || !findings.is_empty();
    let rendered = {
        let (text, notes) = (candidate.schema.clone(), findings.clone());
        crate::work::run(async move {
            let mut formatted = Formatted::new(schema_type, &text);
            if parsed {
                let placed: Vec<(usize, Note)> = {
                    let lines = formatted.locator();
                    notes
                        .iter()
                        .take(code::MAX_NOTES)
                        .filter_map(|finding| {
                            let mut text = format!(
                                "{} at {}: {}",
                                finding.kind, finding.path, finding.description
                            );
                            if let Some(hint) = &finding.hint {
                                text.push_str(&format!(" Hint: {hint}"));
                            }
                            let line = lines
                                .exact(&finding.path)
                                .or_else(|| lines.nearest(&finding.path))?;
                            Some((
                                line,
                                Note {
                                    class: "breaks",
                                    badge: "✗ breaks".into(),
                                    text,
                                },
                            ))
                        })
                        .collect()
                };
                for (line, note) in placed {
                    formatted.add(line, note);
                }
                formatted.mark_tags();
            }
            Ok(formatted.render("candidate", "c-"))
        })
        .await
    };
    let rendered = match rendered {
        Ok(rendered) => rendered,
        Err(error) => return fail(&frame, &error),
    };
    let outcome = Outcome {
        compatible: check.is_compatible,
        level,
        messages: check.messages.unwrap_or_default(),
        findings,
        semver: semver.filter(|_| check.is_compatible),
        rendered,
    };
    respond(
        Some(&frame),
        StatusCode::OK,
        try_page(&frame, &subject, &candidate, Some(&outcome), may_write),
    )
}

// ----------------------------------------------------------------------------- audit

async fn audit(req: HttpRequest, data: Data) -> HttpResponse {
    let frame = frame(&req, &data);
    let caller = caller(&req);
    let pairs = query(&req);
    let now = crate::registry::audit::now_ms();
    let time_param = |name: &str| -> Result<Option<i64>, Error> {
        get(&pairs, name)
            .map(|raw| {
                crate::registry::audit::parse_time(raw, now).ok_or_else(|| {
                    Error::BadRequest(format!("`{raw}` is not a time: give RFC 3339, ms since the epoch, or a span such as 24h or 7d"))
                })
            })
            .transpose()
    };
    let (since, until) = match (time_param("since"), time_param("until")) {
        (Ok(since), Ok(until)) => (since, until),
        (Err(error), _) | (_, Err(error)) => return fail(&frame, &error),
    };
    let action = get(&pairs, "action").unwrap_or_default().to_string();
    let query = AuditQuery {
        subject_prefix: get(&pairs, "subject").map(str::to_string),
        principal: get(&pairs, "principal").map(str::to_string),
        actions: if action.is_empty() {
            Vec::new()
        } else {
            vec![action.clone()]
        },
        since,
        until,
        from: get(&pairs, "from")
            .and_then(|f| f.parse().ok())
            .unwrap_or(0),
        limit: PAGE_ROWS,
    };
    let page = match data.registry.audit(&caller, &query).await {
        Ok(page) => page,
        Err(error) => return fail(&frame, &error),
    };
    let next_link = page.next.map(|next| {
        let mut pairs: Vec<(String, String)> =
            pairs.iter().filter(|(k, _)| k != "from").cloned().collect();
        pairs.push(("from".into(), next.to_string()));
        format!(
            "/ui/audit?{}",
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
        )
    });
    let body = html! {
        form.filters method="get" action="/ui/audit" {
            label for="subject" { "Subject starts with" } input #subject type="search" name="subject" value=(get(&pairs, "subject").unwrap_or(""));
            label for="principal" { "Principal" } input #principal type="search" name="principal" value=(get(&pairs, "principal").unwrap_or(""));
            label for="action" { "Action" }
            select #action name="action" { option value="" { "every action" } @for a in crate::registry::audit::ACTIONS { option value=(a) selected[action == a] { (a) } } }
            label for="since" { "Since" } input #since type="text" name="since" placeholder="24h, 7d or 2026-12-01T00:00:00Z" value=(get(&pairs, "since").unwrap_or(""));
            label for="until" { "Until" } input #until type="text" name="until" value=(get(&pairs, "until").unwrap_or(""));
            button type="submit" { "Filter" }
        }
        @if page.entries.is_empty() { p { "No entry matches." } } @else {
            table.list #audit {
                thead { tr { th { "Offset" } th { "Time" } th { "Principal" } th { "Method" } th { "Source" } th { "Action" } th { "Subject or scope" } th { "Version" } th { "Change" } } }
                tbody { @for e in &page.entries {
                    tr {
                        td { (e.offset) } td { (time(e.ts)) }
                        td { (e.principal.as_deref().unwrap_or("anonymous")) } td { (e.method) } td { (e.source.as_deref().unwrap_or("")) }
                        td { code { (e.action) } }
                        td {
                            @if let Some(s) = &e.subject {
                                @match QualifiedSubject::parse_in(&ContextName::default_context(), s) { Ok(subject) => { a href=(subject_href(&subject)) { (s) } } Err(_) => { (s) } }
                            } @else if let Some(kek) = &e.kek { "KEK " (kek) } @else if let Some(scope) = &e.scope { (scope) @if let Some(c) = &e.context { " " (c) } }
                        }
                        td { (e.version.map(|v| v.to_string()).unwrap_or_default()) }
                        td { @if let (Some(before), Some(after)) = (&e.before, &e.after) { code { (before.to_string()) } " → " code { (after.to_string()) } } @else if e.permanent == Some(true) { "permanent" } }
                    }
                } }
            }
            @if let Some(next) = next_link { nav.pages aria-label="Pages" { a href=(next) rel="next" { "Later entries" } } }
        }
    };
    respond(
        Some(&frame),
        StatusCode::OK,
        layout(&frame, "Audit trail", body),
    )
}

// ----------------------------------------------------------------------------- admin actions

/// An admin action a form asks for.
enum Action {
    Level(CompatibilityLevel),
    Mode(Mode),
    DeleteVersion(VersionSpec, bool),
    DeleteSubject(bool),
}

impl Action {
    fn read(pairs: &[(String, String)]) -> Result<Action, Error> {
        let permanent = get(pairs, "permanent").is_some();
        match get(pairs, "action") {
            Some("level") => Ok(Action::Level(
                get(pairs, "value").unwrap_or_default().parse()?,
            )),
            Some("mode") => Ok(Action::Mode(
                get(pairs, "value").unwrap_or_default().parse()?,
            )),
            Some("delete-version") => Ok(Action::DeleteVersion(
                version_param(pairs, "version")?
                    .ok_or_else(|| Error::BadRequest("no version given".into()))?,
                permanent,
            )),
            Some("delete-subject") => Ok(Action::DeleteSubject(permanent)),
            other => Err(Error::BadRequest(format!(
                "unknown action `{}`",
                other.unwrap_or_default()
            ))),
        }
    }

    fn permitted(
        &self,
        registry: &crate::registry::Registry,
        caller: &Caller,
        subject: &QualifiedSubject,
    ) -> bool {
        let scope = Scope::Subject(subject.clone());
        match self {
            Action::Level(_) => {
                registry.permits(caller, Operation::Config, Resource::Scope(&scope))
            }
            Action::Mode(_) => registry.permits(caller, Operation::Mode, Resource::Scope(&scope)),
            Action::DeleteVersion(..) | Action::DeleteSubject(_) => {
                registry.permits(caller, Operation::Delete, Resource::Subject(subject))
            }
        }
    }

    fn describe(&self, subject: &QualifiedSubject) -> String {
        let s = subject.qualified();
        let how = |permanent: bool| {
            if permanent {
                "permanently delete"
            } else {
                "soft-delete"
            }
        };
        match self {
            Action::Level(level) => format!("Set the compatibility level of {s} to {level}"),
            Action::Mode(mode) => format!("Set the mode of {s} to {mode}"),
            Action::DeleteVersion(v, permanent) => {
                format!("{} version {v} of {s}", capitalize(how(*permanent)))
            }
            Action::DeleteSubject(permanent) => format!(
                "{} the subject {s} (every version)",
                capitalize(how(*permanent))
            ),
        }
    }

    fn hidden(&self) -> Markup {
        let (action, value, version, permanent) = match self {
            Action::Level(l) => ("level", l.to_string(), None, false),
            Action::Mode(m) => ("mode", m.to_string(), None, false),
            Action::DeleteVersion(v, p) => {
                ("delete-version", String::new(), Some(v.to_string()), *p)
            }
            Action::DeleteSubject(p) => ("delete-subject", String::new(), None, *p),
        };
        html! {
            input type="hidden" name="action" value=(action);
            @if !value.is_empty() { input type="hidden" name="value" value=(value); }
            @if let Some(v) = version { input type="hidden" name="version" value=(v); }
            @if permanent { input type="hidden" name="permanent" value="1"; }
        }
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

async fn confirm(req: HttpRequest, data: Data) -> HttpResponse {
    let frame = frame(&req, &data);
    let caller = caller(&req);
    let pairs = query(&req);
    let (subject, action) = match subject_param(&pairs).and_then(|s| Ok((s, Action::read(&pairs)?)))
    {
        Ok(found) => found,
        Err(error) => return fail(&frame, &error),
    };
    if !action.permitted(&data.registry, &caller, &subject) {
        return fail(
            &frame,
            &Error::Forbidden {
                operation: Operation::Admin,
                resource: format!("Subject: {}", subject.qualified()),
            },
        );
    }
    let question = action.describe(&subject);
    let body = html! {
        p.confirm role="alert" { (question) "?" }
        @if matches!(action, Action::DeleteVersion(_, true) | Action::DeleteSubject(true)) {
            p.warning { "A permanent delete cannot be undone." }
        }
        form.inline method="post" action="/ui/admin" {
            (frame.csrf_field())
            input type="hidden" name="s" value=(subject.qualified());
            (action.hidden())
            button.danger type="submit" autofocus { "Confirm" }
            a.button href=(subject_href(&subject)) { "Cancel" }
        }
    };
    respond(
        Some(&frame),
        StatusCode::OK,
        layout(&frame, "Confirm", body),
    )
}

async fn admin(req: HttpRequest, data: Data, payload: web::Payload) -> HttpResponse {
    let frame = frame(&req, &data);
    let caller = caller(&req);
    let fields = match form(payload, &data).await {
        Ok(fields) => fields,
        Err(error) => return fail(&frame, &error),
    };
    if let Err(error) = check_post(&req, &data, &fields) {
        return fail(&frame, &error);
    }
    let (subject, action) =
        match subject_param(&fields).and_then(|s| Ok((s, Action::read(&fields)?))) {
            Ok(found) => found,
            Err(error) => return fail(&frame, &error),
        };
    let registry = &data.registry;
    let scope = Scope::Subject(subject.clone());
    // The registry checks the permission again: a forged form gets its 403 there.
    let result = match &action {
        Action::Level(level) => registry
            .set_config(
                &caller,
                &scope,
                &ConfigUpdateRequest {
                    compatibility: Some(level.to_string()),
                    ..ConfigUpdateRequest::default()
                },
            )
            .await
            .map(|_| ()),
        Action::Mode(mode) => registry
            .set_mode(&caller, &scope, &mode.to_string(), false)
            .await
            .map(|_| ()),
        Action::DeleteVersion(spec, permanent) => registry
            .delete_version(&caller, &subject, *spec, *permanent)
            .await
            .map(|_| ()),
        Action::DeleteSubject(permanent) => registry
            .delete_subject(&caller, &subject, *permanent)
            .await
            .map(|_| ()),
    };
    match result {
        Ok(()) => see_other(format!(
            "{}&done={}",
            subject_href(&subject),
            q(&format!("Done: {}.", action.describe(&subject)))
        )),
        Err(error) => fail(&frame, &error),
    }
}
