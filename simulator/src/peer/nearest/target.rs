//! A connection to one of the three systems and how each is asked for the nearest vehicles.

use anyhow::Context;
use serde::Deserialize;
use tokio_postgres::{Client, Statement};

use super::{redis_connect, Answer, Query, KNN, REDIS_KEY};
use crate::peer::args::{NearestCommon, QueryArgs, TargetName};
use crate::peer::http::Http;
use crate::peer::pg_connect;

pub enum Target {
    Fleetd(Http),
    Postgis(Client, Statement),
    Redis(redis::aio::MultiplexedConnection),
}

impl Target {
    pub async fn connect(
        name: TargetName,
        common: &NearestCommon,
        query: &QueryArgs,
    ) -> anyhow::Result<Target> {
        Ok(match name {
            TargetName::Fleetd => {
                Target::Fleetd(Http::connect(&query.fleetd.http_addr, &query.fleetd.token).await?)
            }
            TargetName::Postgis => {
                let client = pg_connect(&common.database_url).await?;
                let statement = client.prepare(KNN).await.context("prepare the KNN query")?;
                Target::Postgis(client, statement)
            }
            TargetName::Redis => Target::Redis(redis_connect(&common.redis_url).await?),
        })
    }

    pub async fn nearest(&mut self, (lat, lon): (f64, f64), q: Query) -> Result<Answer, String> {
        match self {
            Target::Fleetd(http) => {
                let path = format!(
                    "/v1/dispatch/nearest?lat={lat}&lon={lon}&k={}&radius_m={}",
                    q.k, q.radius_m
                );
                let body = http.get(&path).await?;
                let parsed: FleetdNearest =
                    serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                Ok(parsed
                    .items
                    .into_iter()
                    .map(|i| (i.vehicle_id, i.distance_m))
                    .collect())
            }
            Target::Postgis(client, statement) => {
                let rows = client
                    .query(&*statement, &[&lat, &lon, &q.radius_m, &q.k])
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            }
            Target::Redis(conn) => redis::cmd("GEOSEARCH")
                .arg(REDIS_KEY)
                .arg("FROMLONLAT")
                .arg(lon)
                .arg(lat)
                .arg("BYRADIUS")
                .arg(q.radius_m)
                .arg("m")
                .arg("ASC")
                .arg("COUNT")
                .arg(q.k)
                .arg("WITHDIST")
                .query_async(conn)
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

#[derive(Deserialize)]
struct FleetdNearest {
    items: Vec<FleetdHit>,
}

#[derive(Deserialize)]
struct FleetdHit {
    vehicle_id: String,
    distance_m: f64,
}
