//! The typed client of the node API: one method per [`Request`], returning the reply's contents
//! or a [`ClientError`]. The CLI, the dashboard and the tests reach the node through it, so the
//! matching of a reply to its request happens here, once.
//!
//! Two traits share the same methods: [`Node`] for callers that block (the CLI, tests), with
//! implementations for the [`Service`] over an opened store and the daemon's [`ControlClient`];
//! [`AsyncNode`] for callers on a tokio runtime (the dashboard), with an implementation for the
//! daemon's in-process [`NodeApi`]. An implementation supplies only `send`, which carries a
//! [`Request`] to the node and brings back its [`Response`]; the typed methods are provided.
//!
//! When the node answers with a reply of another kind than the request calls for (a daemon of
//! another version of csx, or a bug), the method fails with [`ClientError::WrongReply`], which
//! names both the request and the reply. Answers to questions are typed the same way: an
//! [`Answered`]'s accessors (`prices`, `motions`, …) give the contents of the answer they name or
//! [`ClientError::WrongAnswer`], so no caller matches on [`Answer`] itself.

use std::future::Future;
use std::time::Duration;

use csx_protocol::Body;

use crate::alerts::Alert;
use crate::api::{
    Listed, MembersView, PeerInfo, ProviderEntry, RecordBytes, Request, Response, Selection, Status, SyncReport,
};
use crate::backup::BackupSummary;
use crate::control::ControlClient;
use crate::error_kind::{ApiError, ErrorKind};
use crate::import::{BatchInfo, ImportReport, ImportRequest};
use crate::query::{
    Answer, Answered, Question, motions, prices, providers, renewals, replies, report, switches, tenders, worth,
};
use crate::runtime::NodeApi;
use crate::service::Service;

/// Why a typed call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The node refused or failed the request, or could not be reached.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The node answered with a reply of another kind than the request calls for.
    #[error(
        "asked the node for `{asked}` but it answered `{answered}`: the daemon is likely running another version of csx than this one ({version}); restart it with this version",
        version = env!("CARGO_PKG_VERSION")
    )]
    WrongReply {
        /// The request's `op`.
        asked: &'static str,
        /// The reply's kind.
        answered: &'static str,
    },
    /// The node answered a question with an answer of another kind than the caller expected.
    #[error(
        "expected the node's answer to be `{expected}` but it was `{answered}`: the daemon is likely running another version of csx than this one ({version}); restart it with this version",
        version = env!("CARGO_PKG_VERSION")
    )]
    WrongAnswer {
        /// The answer's kind the caller expected (see [`Answer::name`]).
        expected: &'static str,
        /// The answer's kind the node gave.
        answered: &'static str,
    },
}

impl ClientError {
    /// The class of the error: a wrong reply is [`ErrorKind::Internal`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Api(e) => e.kind,
            ClientError::WrongReply { .. } | ClientError::WrongAnswer { .. } => ErrorKind::Internal,
        }
    }

    /// The node's error, when it gave one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api(e) => Some(e),
            ClientError::WrongReply { .. } | ClientError::WrongAnswer { .. } => None,
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Api(e) => e,
            wrong @ (ClientError::WrongReply { .. } | ClientError::WrongAnswer { .. }) => {
                ApiError::internal(wrong.to_string())
            }
        }
    }
}

/// Declares the typed views of an [`Answered`]: each gives the contents of the answer it names,
/// or [`ClientError::WrongAnswer`].
macro_rules! answer_views {
    ($(
        $(#[$doc:meta])*
        fn $name:ident, $name_mut:ident -> $out:ty = $answer:pat => $value:expr, $expected:literal;
    )*) => {
        impl Answered {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Result<&$out, ClientError> {
                    match &self.answer {
                        $answer => {
                            let value: &$out = $value;
                            Ok(value)
                        }
                        other => Err(ClientError::WrongAnswer { expected: $expected, answered: other.name() }),
                    }
                }

                $(#[$doc])*
                /// Mutable, to filter it before showing it.
                pub fn $name_mut(&mut self) -> Result<&mut $out, ClientError> {
                    match &mut self.answer {
                        $answer => {
                            let value: &mut $out = $value;
                            Ok(value)
                        }
                        other => Err(ClientError::WrongAnswer { expected: $expected, answered: other.name() }),
                    }
                }
            )*
        }
    };
}

answer_views! {
    /// The price cells of [`Question::Prices`].
    fn prices, prices_mut -> Vec<prices::PriceCell> = Answer::Prices { cells } => cells, "prices";
    /// The scorecards of [`Question::Providers`].
    fn scorecards, scorecards_mut -> Vec<providers::Scorecard> =
        Answer::Providers { scorecards } => scorecards, "providers";
    /// The profile of [`Question::Provider`].
    fn provider, provider_mut -> providers::ProviderProfile = Answer::Provider(p) => p, "provider";
    /// The switching flows of [`Question::Switches`].
    fn switches, switches_mut -> switches::SwitchesAnswer = Answer::Switches(s) => s, "switches";
    /// The motions of [`Question::Motions`].
    fn motions, motions_mut -> Vec<motions::MotionView> = Answer::Motions { motions } => motions, "motions";
    /// The motion of [`Question::Motion`].
    fn motion, motion_mut -> motions::MotionView = Answer::Motion(m) => m, "motion";
    /// The report of [`Question::Report`].
    fn report, report_mut -> report::Report = Answer::Report(r) => r, "report";
    /// The tender groups of [`Question::Tenders`].
    fn tender_groups, tender_groups_mut -> Vec<tenders::TenderGroup> =
        Answer::Tenders { groups, .. } => groups, "tenders";
    /// What the federation pays above the medians, of [`Question::Tenders`].
    fn tender_worth, tender_worth_mut -> worth::Worth = Answer::Tenders { worth, .. } => worth, "tenders";
    /// The providers' reply keys of [`Question::ProviderKeys`].
    fn provider_keys, provider_keys_mut -> Vec<replies::KeyView> =
        Answer::ProviderKeys { keys } => keys, "provider_keys";
    /// The renewal calendar of [`Question::Renewals`].
    fn renewals, renewals_mut -> renewals::Renewals = Answer::Renewals(r) => r, "renewals";
}

/// The records a [`Request::Select`] chose (at most its limit) and how many matched in all.
#[derive(Debug, Clone)]
pub struct Selected {
    pub records: Vec<Listed>,
    pub total: usize,
}

/// The retractions that withdrew an import batch, and the batch.
#[derive(Debug, Clone)]
pub struct Undone {
    pub retractions: Vec<RecordBytes>,
    pub batch: BatchInfo,
}

/// How long a blocking caller waits for the daemon to answer `request` over its control socket:
/// a sync waits its own timeout and a margin, anything else up to five minutes (a large import).
pub fn reply_timeout(request: &Request) -> Duration {
    match request {
        Request::Sync { timeout_ms } => Duration::from_millis(*timeout_ms) + Duration::from_secs(10),
        _ => Duration::from_secs(300),
    }
}

/// Declares the typed methods once, for both [`Node`] and [`AsyncNode`]: each builds its
/// request, and takes the contents out of the one reply kind that answers it.
macro_rules! typed_api {
    ($(
        $(#[$doc:meta])*
        fn $name:ident($($arg:ident: $ty:ty),*) -> $out:ty = $request:expr => $reply:pat => $value:expr;
    )*) => {
        /// A node reached by blocking calls: the [`Service`] over an opened store, or the daemon
        /// over its control socket.
        pub trait Node {
            /// Carries one request to the node and brings back its reply, whatever its kind.
            fn send(&self, request: Request) -> Result<Response, ApiError>;

            $(
                $(#[$doc])*
                fn $name(&self $(, $arg: $ty)*) -> Result<$out, ClientError> {
                    let request = $request;
                    let asked = request.op();
                    match self.send(request)? {
                        $reply => Ok($value),
                        other => Err(ClientError::WrongReply { asked, answered: other.kind() }),
                    }
                }
            )*
        }

        /// A node reached from async code: the daemon's in-process API, or any [`Node`] run on
        /// the blocking pool (see the dashboard's link).
        pub trait AsyncNode: Sync {
            /// Carries one request to the node and brings back its reply, whatever its kind.
            fn send(&self, request: Request) -> impl Future<Output = Result<Response, ApiError>> + Send;

            $(
                $(#[$doc])*
                fn $name(&self $(, $arg: $ty)*) -> impl Future<Output = Result<$out, ClientError>> + Send {
                    async move {
                        let request = $request;
                        let asked = request.op();
                        match self.send(request).await? {
                            $reply => Ok($value),
                            other => Err(ClientError::WrongReply { asked, answered: other.kind() }),
                        }
                    }
                }
            )*
        }
    };
}

typed_api! {
    /// Signs `bodies` as this node's next records and stores them, all or nothing; the records
    /// written, in order.
    fn publish(bodies: Vec<Body>) -> Vec<RecordBytes> = Request::Publish { bodies }
        => Response::Published { records } => records;
    /// One record by id or unique id prefix.
    fn record(id: String) -> Listed = Request::Record { id } => Response::Record { record } => record;
    /// One feed (this node's when `author` is `None`), from `from_seq`, at most `limit` records.
    fn feed(author: Option<String>, from_seq: Option<u64>, limit: usize) -> Vec<Listed> =
        Request::Feed { author, from_seq, limit } => Response::Records { records } => records;
    /// Records of one kind, newest first, optionally about one service line or provider.
    fn list(kind: csx_protocol::body::Kind, service_line: Option<String>, provider: Option<String>, limit: usize)
        -> Vec<Listed> = Request::List { kind, service_line, provider, limit } => Response::Records { records } => records;
    /// The provider registry: built-in providers and provider records.
    fn providers() -> Vec<ProviderEntry> = Request::Providers => Response::Providers { providers } => providers;
    /// Members, their nodes, who admitted them, and applicants.
    fn members() -> MembersView = Request::Members => Response::Members(members) => *members;
    /// Identity, federation, store and (from a daemon) network state.
    fn status() -> Status = Request::Status => Response::Status(status) => *status;
    /// The peers the daemon knows and how in step with each it is.
    fn peers() -> Vec<PeerInfo> = Request::Peers => Response::Peers { peers } => peers;
    /// Syncs with every connected member; succeeds once level with all of them or fails after
    /// `timeout_ms`.
    fn sync(timeout_ms: u64) -> SyncReport = Request::Sync { timeout_ms } => Response::Synced(report) => report;
    /// Stops the daemon.
    fn shutdown() -> () = Request::Shutdown => Response::Stopping => ();
    /// Answers a question about the market.
    fn query(question: Question) -> Answered = Request::Query { question } => Response::Answer(answered) => *answered;
    /// Records of one kind, newest first, filtered, with how many match in all.
    fn select(selection: Selection) -> Selected =
        Request::Select(selection) => Response::Selected { records, total } => Selected { records, total };
    /// Checks (and unless a dry run, writes as one batch) records from a file.
    fn import(request: ImportRequest) -> ImportReport = Request::Import(request) => Response::Imported(report) => *report;
    /// The import batches remembered by this node, newest first.
    fn import_batches() -> Vec<BatchInfo> = Request::ImportBatches => Response::Batches { batches } => batches;
    /// Withdraws an import batch (its number, or `last`) in one signed step.
    fn import_undo(batch: String, reason: Option<String>) -> Undone = Request::ImportUndo { batch, reason }
        => Response::Undone { retractions, batch } => Undone { retractions, batch };
    /// Writes a backup of the home to `path` (absolute; must not exist).
    fn backup(path: String) -> BackupSummary = Request::Backup { path } => Response::BackedUp(summary) => *summary;
    /// Alerts with a seq above `after`, raised at or after `since_ms`; with `wait_ms`, waits that
    /// long (at most 25 s) for one.
    fn alerts(after: u64, since_ms: u64, wait_ms: u64) -> Vec<Alert> =
        Request::Alerts { after, since_ms, wait_ms } => Response::Alerts { alerts } => alerts;
}

impl Node for Service {
    fn send(&self, request: Request) -> Result<Response, ApiError> {
        self.handle(request)
    }
}

/// The daemon over its control socket, waiting [`reply_timeout`] for each reply.
impl Node for ControlClient {
    fn send(&self, request: Request) -> Result<Response, ApiError> {
        let timeout = reply_timeout(&request);
        self.call(&request, timeout)
    }
}

/// The daemon over its control socket, waiting a fixed time for every reply (see
/// [`ControlClient::timed`]).
#[derive(Debug, Clone, Copy)]
pub struct Timed<'a> {
    client: &'a ControlClient,
    timeout: Duration,
}

impl ControlClient {
    /// This client, waiting `timeout` for each reply rather than [`reply_timeout`].
    pub fn timed(&self, timeout: Duration) -> Timed<'_> {
        Timed { client: self, timeout }
    }
}

impl Node for Timed<'_> {
    fn send(&self, request: Request) -> Result<Response, ApiError> {
        self.client.call(&request, self.timeout)
    }
}

impl<N: Node + ?Sized> Node for &N {
    fn send(&self, request: Request) -> Result<Response, ApiError> {
        (**self).send(request)
    }
}

impl<N: Node + ?Sized> Node for Box<N> {
    fn send(&self, request: Request) -> Result<Response, ApiError> {
        (**self).send(request)
    }
}

impl<N: Node + ?Sized> Node for std::sync::Arc<N> {
    fn send(&self, request: Request) -> Result<Response, ApiError> {
        (**self).send(request)
    }
}

impl AsyncNode for NodeApi {
    fn send(&self, request: Request) -> impl Future<Output = Result<Response, ApiError>> + Send {
        self.handle(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node that answers every request with the same reply.
    struct Answers(Response);

    impl Node for Answers {
        fn send(&self, _: Request) -> Result<Response, ApiError> {
            Ok(self.0.clone())
        }
    }

    struct Refuses;

    impl Node for Refuses {
        fn send(&self, _: Request) -> Result<Response, ApiError> {
            Err(ApiError::not_found("no record has id prefix 00"))
        }
    }

    #[test]
    fn a_reply_of_the_right_kind_gives_its_contents() {
        let node = Answers(Response::Batches { batches: Vec::new() });
        assert!(node.import_batches().unwrap().is_empty());
        let node = Answers(Response::Stopping);
        node.shutdown().unwrap();
    }

    #[test]
    fn an_answer_gives_its_contents_through_the_view_that_names_it() {
        let node = Answers(Response::Answer(Box::new(Answered {
            answer: Answer::Motions { motions: Vec::new() },
            provenance: Default::default(),
        })));
        let mut answered = node.query(Question::Report).unwrap();
        assert!(answered.motions().unwrap().is_empty());
        assert!(answered.motions_mut().unwrap().is_empty());
        // Asked through another view, the answer is named with what was expected.
        let err = answered.prices().unwrap_err();
        assert_eq!(err, ClientError::WrongAnswer { expected: "prices", answered: "motions" });
        assert_eq!(err.kind(), ErrorKind::Internal);
        let text = err.to_string();
        assert!(text.contains("`prices`") && text.contains("`motions`"), "{text}");
        assert!(matches!(answered.tender_worth_mut(), Err(ClientError::WrongAnswer { expected: "tenders", .. })));
        let api: ApiError = err.into();
        assert_eq!(api.kind, ErrorKind::Internal);
    }

    #[test]
    fn a_reply_of_another_kind_is_named_with_the_request() {
        let node = Answers(Response::Stopping);
        let err = node.import_batches().unwrap_err();
        assert_eq!(err, ClientError::WrongReply { asked: "import_batches", answered: "stopping" });
        assert_eq!(err.kind(), ErrorKind::Internal);
        let message = err.to_string();
        assert!(message.contains("`import_batches`") && message.contains("`stopping`"), "{message}");
        assert!(message.contains(env!("CARGO_PKG_VERSION")), "{message}");
        let api = ApiError::from(err);
        assert_eq!(api.kind, ErrorKind::Internal);
        assert_eq!(api.message, message);
    }

    #[test]
    fn the_nodes_error_passes_through_with_its_kind() {
        let err = Refuses.record("00".into()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.api().map(|e| e.message.as_str()), Some("no record has id prefix 00"));
        assert_eq!(err.to_string(), "no record has id prefix 00");
    }

    #[test]
    fn a_dyn_node_answers_typed_calls() {
        let node: Box<dyn Node> = Box::new(Answers(Response::Peers { peers: Vec::new() }));
        assert!(node.peers().unwrap().is_empty());
        assert!(matches!(node.status(), Err(ClientError::WrongReply { asked: "status", answered: "peers" })));
    }

    #[test]
    fn op_and_kind_names_match_the_wire_tags() {
        let requests = [
            Request::Status,
            Request::ImportBatches,
            Request::Sync { timeout_ms: 1 },
            Request::Alerts { after: 0, since_ms: 0, wait_ms: 0 },
            Request::Record { id: "ab".into() },
        ];
        for r in requests {
            let v = serde_json::to_value(&r).unwrap();
            assert_eq!(v["op"], r.op(), "{v}");
        }
        let replies =
            [Response::Stopping, Response::Batches { batches: Vec::new() }, Response::Peers { peers: Vec::new() }];
        for r in replies {
            let v = serde_json::to_value(&r).unwrap();
            assert_eq!(v["reply"], r.kind(), "{v}");
        }
    }

    #[tokio::test]
    async fn the_async_node_matches_replies_the_same_way() {
        struct AsyncAnswers(Response);
        impl AsyncNode for AsyncAnswers {
            async fn send(&self, _: Request) -> Result<Response, ApiError> {
                Ok(self.0.clone())
            }
        }
        let node = AsyncAnswers(Response::Stopping);
        node.shutdown().await.unwrap();
        let err = node.members().await.unwrap_err();
        assert_eq!(err, ClientError::WrongReply { asked: "members", answered: "stopping" });
    }
}
