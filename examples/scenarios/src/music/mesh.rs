//! The music streaming mesh, wired: four producer domains publish a generated [`World`]
//! (catalogues as Delta products, interactions and releases as streams), the
//! `recommendations` domain learns from every interaction, and the `analytics` domain keeps
//! live trends as a product of its own. The interaction history lands in its table through
//! the stream-to-table sink.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use datamesh::consumer_kit::{
    CancellationToken, DomainConsumer, Event, Handler, HandlerError, Serde, StaticData,
};
use datamesh::mesh_core::ProductId;
use datamesh::producer_kit::DomainProducer;

use super::analytics::{PlaysPerMinute, Trends};
use super::{
    EvalConfig, Evaluator, Interaction, Item, MusicEvent, Podcast, Popularity, Recommendation,
    Recommender, Report, Song, User, World,
};
use crate::domains::{Joined, Mesh, Running, grant, sink, until};
use crate::error::{Error, Result};
use crate::measure::{Latency, Pacer, Percentiles};
use crate::progress::Progress;

/// How the music scenario runs.
#[derive(Debug)]
pub struct MusicRun {
    /// The generated world to publish.
    pub world: World,
    /// Interactions published per second (0: as fast as the broker takes them).
    pub rate: u64,
    /// The longest the consumers may take to catch up.
    pub timeout: Duration,
}

/// The recommendations domain's state: the online model, the baseline and the evaluation,
/// fed in the same order.
#[derive(Debug)]
pub struct Models {
    /// The online recommender.
    pub recommender: Recommender,
    /// The popularity baseline.
    pub baseline: Popularity,
    /// Prequential evaluation of both.
    pub evaluator: Evaluator,
    /// Interactions learned from.
    pub handled: usize,
}

/// What the HTTP service reads: the models, the trends and the item catalogue.
#[derive(Debug, Clone)]
pub struct MusicState {
    /// The recommendations domain's models.
    pub models: Arc<Mutex<Models>>,
    /// The analytics domain's trends.
    pub trends: Arc<Mutex<Trends>>,
    /// The merged catalogue, by item id.
    pub items: Arc<RwLock<HashMap<i64, Item>>>,
    analytics_handled: Arc<std::sync::atomic::AtomicUsize>,
    latency: Arc<Latency>,
    count_latency: Arc<Latency>,
    learning_joined: Joined,
    counting_joined: Joined,
}

impl MusicState {
    /// The top `k` for `user_id`, with each item's catalogue entry when known.
    pub fn recommend(&self, user_id: i64, k: usize) -> Vec<(Recommendation, Option<Item>)> {
        let recommendations = match self.models.lock() {
            Ok(models) => models.recommender.recommend(user_id, k),
            Err(_) => return Vec::new(),
        };
        let items = self.items.read().ok();
        recommendations
            .into_iter()
            .map(|r| {
                let item = items.as_ref().and_then(|i| i.get(&r.item_id).cloned());
                (r, item)
            })
            .collect()
    }
}

/// A user's recommendations, with each item's catalogue entry when known.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The user.
    pub user_id: i64,
    /// The genres they said they like.
    pub favourite_genres: Vec<String>,
    /// How many interactions they had.
    pub interactions: usize,
    /// Their top items.
    pub items: Vec<(Recommendation, Option<Item>)>,
}

/// What the music scenario measured.
#[derive(Debug, Clone)]
pub struct MusicOutcome {
    /// Rows and events each producer domain published.
    pub published: BTreeMap<String, usize>,
    /// Held-out evaluation of the recommender against the popularity baseline.
    pub evaluation: Report,
    /// Recommendations for a few users.
    pub samples: Vec<Sample>,
    /// The busiest genres of the busiest minute, read back from `analytics.plays_per_minute`.
    pub top_genres: Vec<(String, i64)>,
    /// Rows in `analytics.plays_per_minute`.
    pub trend_rows: usize,
    /// Rows in `interactions.history` (written by the sink).
    pub history_rows: u64,
    /// Interactions published per second.
    pub publish_rate: f64,
    /// Producer to recommender latency. The recommender's handler also runs the held-out
    /// evaluation (two top-10 queries per test case, in the last fifth of the stream), which
    /// shows in the tail.
    pub latency: Percentiles,
    /// Producer to analytics latency (a counting handler).
    pub analytics_latency: Percentiles,
    /// The state the HTTP service reads.
    pub state: MusicState,
}

#[derive(Debug, Clone)]
struct Learn(MusicState);

impl Handler for Learn {
    type Value = Serde<Interaction>;

    async fn handle(&self, event: Event<Serde<Interaction>>) -> Result<(), HandlerError> {
        self.0.latency.record(event.meta.produced_at_ms);
        let mut models = self
            .0
            .models
            .lock()
            .map_err(|_| HandlerError::poison("the models are poisoned"))?;
        let Models {
            recommender,
            baseline,
            evaluator,
            handled,
        } = &mut *models;
        evaluator.observe(
            &MusicEvent::Interaction(event.value.0),
            recommender,
            baseline,
        );
        *handled += 1;
        Ok(())
    }

    fn on_rebalance(&self, assigned: &[(String, i32)], _revoked: &[(String, i32)]) {
        self.0.learning_joined.rebalanced(assigned);
    }
}

#[derive(Debug, Clone)]
struct Catalogue(MusicState);

impl Handler for Catalogue {
    type Value = Serde<Song>;

    async fn handle(&self, event: Event<Serde<Song>>) -> Result<(), HandlerError> {
        let song = event.value.0;
        let item = Item::from(&song);
        if let Ok(mut trends) = self.0.trends.lock() {
            trends.set_genre(item.item_id, &item.genre);
        }
        if let Ok(mut items) = self.0.items.write() {
            items.insert(item.item_id, item);
        }
        let mut models = self
            .0
            .models
            .lock()
            .map_err(|_| HandlerError::poison("the models are poisoned"))?;
        let Models {
            recommender,
            baseline,
            evaluator,
            ..
        } = &mut *models;
        evaluator.observe(&MusicEvent::Released(song), recommender, baseline);
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Count(MusicState);

impl Handler for Count {
    type Value = Serde<Interaction>;

    async fn handle(&self, event: Event<Serde<Interaction>>) -> Result<(), HandlerError> {
        self.0.count_latency.record(event.meta.produced_at_ms);
        self.0
            .trends
            .lock()
            .map_err(|_| HandlerError::poison("the trends are poisoned"))?
            .observe(&event.value.0);
        self.0
            .analytics_handled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn on_rebalance(&self, assigned: &[(String, i32)], _revoked: &[(String, i32)]) {
        self.0.counting_joined.rebalanced(assigned);
    }
}

/// The producer domains of the scenario.
struct Producers {
    users: DomainProducer,
    songs: DomainProducer,
    podcasts: DomainProducer,
    interactions: DomainProducer,
    analytics: DomainProducer,
}

async fn catalogue_rows<T: serde::de::DeserializeOwned>(
    data: &StaticData,
    product: &ProductId,
) -> Result<Vec<T>> {
    data.open(product).await?;
    let table = format!("{}.{}", product.domain(), product.product());
    Ok(data.rows(&format!("SELECT * FROM {table}")).await?)
}

/// Writes closed minutes of the trends to `analytics.plays_per_minute` every second.
fn keep_trends(
    analytics: DomainProducer,
    trends: Arc<Mutex<Trends>>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<Result<usize>> {
    tokio::spawn(async move {
        let mut written = 0usize;
        // Closed minutes not in the table yet: a failed write keeps them for the next tick,
        // so a catalog or lake outage delays the trends instead of ending the job.
        let mut pending: Vec<PlaysPerMinute> = Vec::new();
        loop {
            let stop = tokio::select! {
                () = shutdown.cancelled() => true,
                () = tokio::time::sleep(Duration::from_secs(1)) => false,
            };
            match trends.lock() {
                Ok(mut t) if stop => pending.extend(t.close_all()),
                Ok(mut t) => pending.extend(t.take_closed()),
                Err(_) => {}
            }
            if !pending.is_empty() {
                let snapshot = analytics.rows("plays_per_minute", &pending)?;
                match analytics.snapshot("plays_per_minute", snapshot).await {
                    Ok(_) => {
                        written += pending.len();
                        pending.clear();
                    }
                    Err(e) if e.is_committed() => {
                        tracing::warn!(error = %e, "trends written; the catalog learns of them later");
                        written += pending.len();
                        pending.clear();
                    }
                    Err(e) if stop => return Err(e.into()),
                    Err(e) => {
                        tracing::warn!(error = %e, rows = pending.len(), "trends not written yet; trying again");
                    }
                }
            }
            if stop {
                return Ok(written);
            }
        }
    })
}

/// Runs the scenario on `mesh`. The returned state keeps serving recommendations.
pub async fn run(mesh: &Mesh, run: MusicRun, progress: &Progress) -> Result<MusicOutcome> {
    let world = run.world;
    let producers = Producers {
        users: mesh.producer("users").await?,
        songs: mesh.producer("songs").await?,
        podcasts: mesh.producer("podcasts").await?,
        interactions: mesh.producer("interactions").await?,
        analytics: mesh.producer("analytics").await?,
    };
    let mut published = BTreeMap::new();

    // The static products: profiles and catalogues.
    let users = producers.users.rows("profiles", world.users())?;
    producers.users.snapshot("profiles", users).await?;
    published.insert("users".to_owned(), world.users().len());
    let songs = producers.songs.rows("catalogue", world.songs())?;
    producers.songs.snapshot("catalogue", songs).await?;
    let podcasts = producers.podcasts.rows("catalogue", world.podcasts())?;
    producers.podcasts.snapshot("catalogue", podcasts).await?;
    published.insert("podcasts".to_owned(), world.podcasts().len());
    progress.say(format!(
        "music      catalogues published: {} users, {} songs, {} podcasts",
        world.users().len(),
        world.songs().len(),
        world.podcasts().len()
    ));

    // The recommendations domain reads the granted products and merges the catalogue.
    let recommendations = mesh.consumer("recommendations").await?;
    let songs_id = grant(&producers.songs, "catalogue", &recommendations).await?;
    let podcasts_id = grant(&producers.podcasts, "catalogue", &recommendations).await?;
    let users_id = grant(&producers.users, "profiles", &recommendations).await?;
    let data = recommendations.static_data();
    let songs: Vec<Song> = catalogue_rows(&data, &songs_id).await?;
    let podcasts: Vec<Podcast> = catalogue_rows(&data, &podcasts_id).await?;
    let profiles: Vec<User> = catalogue_rows(&data, &users_id).await?;
    let catalogue = super::merge_catalogue(&songs, &podcasts);

    let mut models = Models {
        recommender: Recommender::default(),
        baseline: Popularity::default(),
        evaluator: Evaluator::new(EvalConfig::for_world(&world)),
        handled: 0,
    };
    let mut trends = Trends::default();
    for item in &catalogue {
        models.recommender.add_item(item);
        models.baseline.add_item(item);
        trends.set_genre(item.item_id, &item.genre);
    }
    for user in &profiles {
        models.recommender.add_user(user);
    }
    let state = MusicState {
        models: Arc::new(Mutex::new(models)),
        trends: Arc::new(Mutex::new(trends)),
        items: Arc::new(RwLock::new(
            catalogue.into_iter().map(|i| (i.item_id, i)).collect(),
        )),
        analytics_handled: Arc::default(),
        latency: Arc::new(Latency::new(10, 100_000)),
        count_latency: Arc::new(Latency::new(10, 100_000)),
        learning_joined: Joined::default(),
        counting_joined: Joined::default(),
    };

    // The live side: learn, count, catalogue new releases, sink the history.
    let interactions = producers.interactions.publisher::<Interaction>("events")?;
    let releases = producers.songs.publisher::<Song>("released")?;
    let analytics = mesh.consumer("analytics").await?;
    let sink_domain = mesh.consumer("interactions").await?;
    let stop = CancellationToken::new();
    let learning = subscribe(
        &recommendations,
        interactions.topic(),
        "recommendations",
        Learn(state.clone()),
        &stop,
    );
    let cataloguing = subscribe(
        &recommendations,
        releases.topic(),
        "recommendations.releases",
        Catalogue(state.clone()),
        &stop,
    );
    let counting = subscribe(
        &analytics,
        interactions.topic(),
        "analytics",
        Count(state.clone()),
        &stop,
    );
    let history_id = ProductId::parse("interactions.history")?;
    let sinking = sink(sink_domain.sink(history_id.clone()).with_batch(
        100_000,
        32 << 20,
        Duration::from_secs(2),
    ));
    let trend_writer = keep_trends(producers.analytics, Arc::clone(&state.trends), stop.clone());

    until(
        "joining the consumer groups",
        run.timeout,
        &[&learning, &counting],
        || state.learning_joined.is_joined() && state.counting_joined.is_joined(),
        || "waiting for partitions".to_owned(),
    )
    .await?;

    // Publish the stream in event-time order: releases as they happen, interactions paced.
    let total = world
        .events()
        .filter(|e| matches!(e, MusicEvent::Interaction(_)))
        .count();
    let published_bar = progress.bar("interactions: published", total as u64);
    let learned_bar = progress.bar("recommendations: learned", total as u64);
    let mut pacer = Pacer::new(run.rate);
    let mut batch: Vec<Interaction> = Vec::with_capacity(2_000);
    let mut released = Vec::new();
    for event in world.events() {
        match event {
            MusicEvent::Interaction(i) => batch.push(i),
            MusicEvent::Released(song) => {
                // Interactions before the release go first.
                flush(&interactions, &mut batch, &mut pacer, &published_bar).await?;
                releases.send(&song).await?;
                released.push(song);
            }
        }
        if batch.len() >= 2_000 {
            flush(&interactions, &mut batch, &mut pacer, &published_bar).await?;
            learned_bar.set_position(handled(&state) as u64);
        }
    }
    flush(&interactions, &mut batch, &mut pacer, &published_bar).await?;
    let publish_rate = pacer.achieved();
    published_bar.finish();
    if !released.is_empty() {
        let rows = producers.songs.rows("catalogue", &released)?;
        producers.songs.snapshot("catalogue", rows).await?;
    }
    published.insert("songs".to_owned(), world.songs().len() + released.len());
    published.insert("interactions".to_owned(), total);

    let tasks: [&dyn crate::domains::Finished; 4] = [&learning, &cataloguing, &counting, &sinking];
    until(
        "learning from every interaction",
        run.timeout,
        &tasks,
        || {
            let n = handled(&state);
            learned_bar.set_position(n as u64);
            n >= total
                && state
                    .analytics_handled
                    .load(std::sync::atomic::Ordering::Relaxed)
                    >= total
        },
        || {
            format!(
                "recommendations {} and analytics {} of {total}",
                handled(&state),
                state
                    .analytics_handled
                    .load(std::sync::atomic::Ordering::Relaxed)
            )
        },
    )
    .await?;
    learned_bar.finish();
    let catalog = recommendations.catalog().clone();
    let history = history_id.clone();
    until_history(&catalog, &history, total as u64, run.timeout, &sinking).await?;

    learning.stop("the recommendations consumer").await?;
    cataloguing.stop("the releases consumer").await?;
    counting.stop("the analytics consumer").await?;
    stop.cancel();
    let trend_rows = trend_writer.await.map_err(|e| Error::Task {
        task: "the trends writer".into(),
        reason: e.to_string(),
    })??;
    sinking.stop("the interactions sink").await?;

    // Read the products back, as any granted domain would.
    let analytics_data = analytics.static_data();
    // Its own product: no grant needed.
    let trends_id = ProductId::parse("analytics.plays_per_minute")?;
    analytics_data.open(&trends_id).await?;
    let top_genres: Vec<(String, i64)> = analytics_data
        .rows::<GenrePlays>(
            "SELECT key, plays FROM analytics.plays_per_minute \
             WHERE dimension = 'GENRE' AND minute = (\
               SELECT minute FROM analytics.plays_per_minute WHERE dimension = 'GENRE' \
               GROUP BY minute ORDER BY sum(plays) DESC, minute LIMIT 1) \
             ORDER BY plays DESC, key LIMIT 5",
        )
        .await?
        .into_iter()
        .map(|g| (g.key, g.plays))
        .collect();
    let history_rows = catalog.latest_table_version(&history_id).await?.rows;

    let evaluation = state
        .models
        .lock()
        .map(|m| m.evaluator.report())
        .map_err(|_| Error::Task {
            task: "the recommendations consumer".into(),
            reason: "its models are poisoned".into(),
        })?;
    let samples = sample_users(&world, &state);
    Ok(MusicOutcome {
        published,
        evaluation,
        samples,
        top_genres,
        trend_rows,
        history_rows,
        publish_rate,
        latency: state.latency.percentiles(),
        analytics_latency: state.count_latency.percentiles(),
        state,
    })
}

#[derive(serde::Deserialize)]
struct GenrePlays {
    key: String,
    plays: i64,
}

fn handled(state: &MusicState) -> usize {
    state.models.lock().map_or(0, |m| m.handled)
}

fn subscribe<H: Handler>(
    consumer: &DomainConsumer,
    topic: &datamesh::mesh_core::TopicName,
    group: &str,
    handler: H,
    stop: &CancellationToken,
) -> Running<datamesh::consumer_kit::RunSummary> {
    let shutdown = stop.child_token();
    let work = consumer
        .subscribe(vec![topic.clone()])
        .with_group(group)
        .run(handler, shutdown.clone());
    Running::spawn(shutdown, work)
}

async fn flush(
    publisher: &datamesh::producer_kit::Publisher<Interaction>,
    batch: &mut Vec<Interaction>,
    pacer: &mut Pacer,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    pacer.wait(batch.len()).await;
    publisher.send_batch(batch).await?;
    bar.inc(batch.len() as u64);
    batch.clear();
    Ok(())
}

/// Waits until the sink's newest table version holds `total` rows.
async fn until_history(
    catalog: &datamesh::catalog::CatalogClient,
    history: &ProductId,
    total: u64,
    limit: Duration,
    sinking: &Running<datamesh::consumer_kit::SinkSummary>,
) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        let rows = match catalog.latest_table_version(history).await {
            Ok(v) => v.rows,
            Err(e) if e.is_not_found() => 0,
            Err(e) => return Err(e.into()),
        };
        if rows >= total {
            return Ok(());
        }
        if let Some(cause) = sinking.failure() {
            return Err(Error::Task {
                task: "sinking interactions.history".into(),
                reason: format!("{cause} ({rows} of {total} rows in the table)"),
            });
        }
        if started.elapsed() > limit {
            return Err(Error::Timeout {
                stage: "sinking interactions.history".into(),
                seconds: limit.as_secs(),
                progress: format!("{rows} of {total} rows"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Three users to show: the most active, a median one and the least active.
fn sample_users(world: &World, state: &MusicState) -> Vec<Sample> {
    let mut activity: HashMap<i64, usize> = HashMap::new();
    for event in world.events() {
        if let MusicEvent::Interaction(i) = event {
            *activity.entry(i.user_id).or_default() += 1;
        }
    }
    let mut users: Vec<(&User, usize)> = world
        .users()
        .iter()
        .map(|u| (u, activity.get(&u.user_id).copied().unwrap_or(0)))
        .collect();
    users.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.user_id.cmp(&b.0.user_id)));
    let picks = [0, users.len() / 2, users.len().saturating_sub(1)];
    let mut samples = Vec::new();
    for i in picks {
        if let Some((user, interactions)) = users.get(i)
            && !samples.iter().any(|s: &Sample| s.user_id == user.user_id)
        {
            samples.push(Sample {
                user_id: user.user_id,
                favourite_genres: user.favourite_genres.clone(),
                interactions: *interactions,
                items: state.recommend(user.user_id, 5),
            });
        }
    }
    samples
}
