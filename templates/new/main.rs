//! The {{name}} server: the `Notes` service of `proto/{{snake_name}}.proto`, kept in
//! memory and served over every protocol on one port.
//!
//! `cargo run -- [--addr 127.0.0.1:8080] [--token SECRET]`, and in production
//! `--jwks URL --issuer ISS --audience AUD --rate-limit 100/s --redis URL
//! --metrics-addr HOST:PORT --otlp URL --cors-origin ORIGIN` (see README.md).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use apigen_runtime::futures::stream;
use apigen_runtime::wkt::{Empty, Timestamp};
use apigen_runtime::{Context, ResponseStream, Result, Status};
use tokio::sync::broadcast;

// The code build.rs generated from `proto/{{snake_name}}.proto`: the types, the
// `v1::Notes` trait this file implements, and typed clients for its callers.
apigen_runtime::include_api!();

use {{snake_name}}::v1::{self, Note, NoteEvent, note_event::Kind};

/// The page size of a ListNotes call that asks for none.
const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page, whatever a ListNotes call asks for.
const MAX_PAGE_SIZE: usize = 1000;
/// How many events a slow WatchNotes client may fall behind before its
/// stream ends with RESOURCE_EXHAUSTED.
const WATCH_BUFFER: usize = 256;

/// The notes, in memory.
struct Notebook {
    state: Mutex<State>,
    /// Every WatchNotes stream subscribes to this.
    events: broadcast::Sender<NoteEvent>,
}

#[derive(Default)]
struct State {
    /// The id of the last note created. Ids are never reused.
    last_id: u64,
    /// Id → note, so iteration is oldest first.
    notes: BTreeMap<u64, Note>,
}

impl Default for Notebook {
    fn default() -> Self {
        Notebook {
            state: Mutex::default(),
            events: broadcast::channel(WATCH_BUFFER).0,
        }
    }
}

impl Notebook {
    fn state(&self) -> MutexGuard<'_, State> {
        // A method that panicked while holding the lock left the map whole:
        // carry on with it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn notify(&self, kind: Kind, note: &Note) {
        // An error only means that nobody is watching.
        let _ = self.events.send(NoteEvent {
            kind: kind.into(),
            note: Some(note.clone()),
        });
    }
}

/// The id in a note's name, `notes/{id}`. A malformed name is
/// INVALID_ARGUMENT; whether the note exists is for the caller to check.
fn note_id(name: &str) -> Result<u64> {
    name.strip_prefix("notes/")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| {
            Status::invalid_argument(format!("`name` must look like `notes/1`, not `{name}`"))
        })
}

fn not_found(name: &str) -> Status {
    Status::not_found(format!("note `{name}` does not exist"))
}

impl v1::Notes for Notebook {
    async fn get_note(&self, _ctx: Context, request: v1::GetNoteRequest) -> Result<Note> {
        let id = note_id(&request.name)?;
        self.state()
            .notes
            .get(&id)
            .cloned()
            .ok_or_else(|| not_found(&request.name))
    }

    async fn list_notes(
        &self,
        _ctx: Context,
        request: v1::ListNotesRequest,
    ) -> Result<v1::ListNotesResponse> {
        let page_size = match usize::try_from(request.page_size) {
            Err(_) => return Err(Status::invalid_argument("`page_size` must not be negative")),
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(size) => size.min(MAX_PAGE_SIZE),
        };
        // A page token is the id of the last note of the previous page.
        let after = match request.page_token.as_str() {
            "" => 0,
            token => token.parse().map_err(|_| {
                Status::invalid_argument("`page_token` is not one this server returned")
            })?,
        };
        let state = self.state();
        // One more than a page tells whether another page follows.
        let found: Vec<(&u64, &Note)> = state
            .notes
            .range((Bound::Excluded(after), Bound::Unbounded))
            .take(page_size + 1)
            .collect();
        let next_page_token = if found.len() > page_size {
            found[page_size - 1].0.to_string()
        } else {
            String::new()
        };
        let notes = found
            .into_iter()
            .take(page_size)
            .map(|(_, note)| note.clone())
            .collect();
        Ok(v1::ListNotesResponse {
            notes,
            next_page_token,
        })
    }

    async fn create_note(&self, _ctx: Context, request: v1::CreateNoteRequest) -> Result<Note> {
        let mut state = self.state();
        state.last_id += 1;
        let id = state.last_id;
        let note = Note {
            name: format!("notes/{id}"),
            create_time: Some(Timestamp::now()),
            ..request.note.unwrap_or_default()
        };
        state.notes.insert(id, note.clone());
        self.notify(Kind::Created, &note);
        Ok(note)
    }

    async fn delete_note(&self, _ctx: Context, request: v1::DeleteNoteRequest) -> Result<Empty> {
        let id = note_id(&request.name)?;
        let note = self
            .state()
            .notes
            .remove(&id)
            .ok_or_else(|| not_found(&request.name))?;
        self.notify(Kind::Deleted, &note);
        Ok(Empty {})
    }

    async fn watch_notes(
        &self,
        _ctx: Context,
        _request: v1::WatchNotesRequest,
    ) -> Result<ResponseStream<NoteEvent>> {
        let events = stream::unfold(self.events.subscribe(), |mut events| async move {
            let event = match events.recv().await {
                Ok(event) => Ok(event),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    Err(Status::resource_exhausted(format!(
                        "this watch fell {missed} events behind; watch again"
                    )))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((event, events))
        });
        Ok(ResponseStream::new(events))
    }
}

/// With `--features jemalloc`, memory freed after a load goes back to the system.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    apigen_runtime::server::init_logging();
    let args = apigen_runtime::server::Args::from_env("{{name}}");
    apigen_runtime::Server::builder()
        .add_service(v1::notes_service(Notebook::default()))
        .run(&args)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use v1::Notes as _;

    fn note(title: &str) -> v1::CreateNoteRequest {
        v1::CreateNoteRequest {
            note: Some(Note {
                title: title.to_owned(),
                ..Note::default()
            }),
        }
    }

    #[tokio::test]
    async fn notes_are_created_listed_and_deleted() {
        let notebook = Notebook::default();
        let first = notebook
            .create_note(Context::default(), note("first"))
            .await
            .unwrap();
        notebook
            .create_note(Context::default(), note("second"))
            .await
            .unwrap();
        assert_eq!(first.name, "notes/1");

        let request = v1::ListNotesRequest {
            page_size: 1,
            ..Default::default()
        };
        let page = notebook
            .list_notes(Context::default(), request)
            .await
            .unwrap();
        assert_eq!(page.notes.len(), 1);
        assert_eq!(page.notes[0], first);
        let request = v1::ListNotesRequest {
            page_size: 1,
            page_token: page.next_page_token,
        };
        let page = notebook
            .list_notes(Context::default(), request)
            .await
            .unwrap();
        assert_eq!(page.notes.len(), 1);
        assert_eq!(page.notes[0].title, "second");
        assert_eq!(page.next_page_token, "");

        let delete = || v1::DeleteNoteRequest {
            name: first.name.clone(),
        };
        notebook
            .delete_note(Context::default(), delete())
            .await
            .unwrap();
        let again = notebook
            .delete_note(Context::default(), delete())
            .await
            .unwrap_err();
        assert_eq!(again.code(), apigen_runtime::Code::NotFound);
    }

    #[test]
    fn malformed_names_are_invalid() {
        assert_eq!(note_id("notes/7").unwrap(), 7);
        for bad in ["notes/", "notes/x", "7", "books/7"] {
            assert_eq!(
                note_id(bad).unwrap_err().code(),
                apigen_runtime::Code::InvalidArgument,
                "{bad}"
            );
        }
    }
}
