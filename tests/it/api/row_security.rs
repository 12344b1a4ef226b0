//! Row-level security as defence in depth: in a transaction scoped as the API scopes its own
//! (`Scope::begin_sql`), handlers' queries with their ownership check removed still see and
//! change only the caller's rows; staff and the daemon's own work see everything.

use fleetd::api::auth::Role;
use fleetd::api::middleware::txn::Scope;
use serde_json::json;
use uuid::Uuid;

use crate::common::api::{customer, driver, plan, reserve_body, standard_plan, vehicle, Api};

/// Ids `sql` returns in a transaction scoped to `caller` (None: outside the API).
async fn seen(db: &tokio_postgres::Client, caller: Option<(Uuid, Role)>, sql: &str) -> Vec<String> {
    let begin = match caller {
        Some(_) => Scope {
            caller,
            as_api_role: true,
        }
        .begin_sql(),
        None => "BEGIN".to_string(),
    };
    db.batch_execute(&begin).await.unwrap();
    let rows = db.query(sql, &[]).await;
    db.batch_execute("ROLLBACK").await.unwrap();
    let mut ids: Vec<String> = rows
        .unwrap()
        .iter()
        .map(|r| r.get::<_, Uuid>(0).to_string())
        .collect();
    ids.sort();
    ids
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn user_of(db: &tokio_postgres::Client, table: &str, id: &str) -> Uuid {
    db.query_one(
        &format!("SELECT user_id FROM {table} WHERE id = $1"),
        &[&id.parse::<Uuid>().unwrap()],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_keep_customers_and_drivers_to_their_own_rows() {
    let api = Api::start().await;
    let a = &api.admin;
    let p = plan(a, standard_plan()).await;
    let (ca, cust_a) = customer(&api, "rls-a").await;
    let (_, cust_b) = customer(&api, "rls-b").await;
    let from = chrono::Utc::now() + chrono::Duration::days(2);
    let to = from + chrono::Duration::days(1);
    let mut rentals = Vec::new();
    for (i, c) in [&cust_a, &cust_b].into_iter().enumerate() {
        let v = format!("rls-{i}");
        vehicle(a, &v, i as u32 + 1).await;
        let mut b = reserve_body(&v, &p, &from.to_rfc3339(), &to.to_rfc3339(), 10);
        b["customer_id"] = json!(c);
        let r = a.post("/v1/rentals", b).await;
        assert_eq!(r.status, 201, "{}", r.body);
        rentals.push(r.json()["id"].as_str().unwrap().to_string());
    }
    let (_, drv_a) = driver(&api, "rls-driver-a").await;
    let (_, drv_b) = driver(&api, "rls-driver-b").await;
    let mut shifts = Vec::new();
    for (i, d) in [&drv_a, &drv_b].into_iter().enumerate() {
        let r = a
            .post(
                "/v1/assignments",
                json!({"driver_id": d, "vehicle_id": format!("rls-{i}"),
                       "starts_at": (from + chrono::Duration::days(3)).to_rfc3339(),
                       "ends_at": (from + chrono::Duration::days(4)).to_rfc3339()}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        shifts.push(r.json()["id"].as_str().unwrap().to_string());
    }
    let r = ca
        .post(
            "/v1/dispatch/jobs",
            json!({"pickup": {"lat": 52.0, "lon": 13.0}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let job_a = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .post(
            "/v1/dispatch/jobs",
            json!({"pickup": {"lat": 52.0, "lon": 13.0}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let job_staff = r.json()["id"].as_str().unwrap().to_string();

    let db = api.db.client().await;
    let ua = user_of(&db, "customers", &cust_a).await;
    let da = user_of(&db, "drivers", &drv_a).await;
    let as_customer = Some((ua, Role::Customer));
    let as_driver = Some((da, Role::Driver));

    // The handlers' queries without their ownership checks.
    assert_eq!(
        seen(&db, as_customer, "SELECT id FROM rentals").await,
        vec![rentals[0].clone()]
    );
    assert_eq!(
        seen(&db, as_customer, "SELECT id FROM customers").await,
        vec![cust_a.clone()]
    );
    assert!(seen(&db, as_customer, "SELECT id FROM drivers")
        .await
        .is_empty());
    assert!(seen(&db, as_customer, "SELECT id FROM assignments")
        .await
        .is_empty());
    assert_eq!(
        seen(&db, as_customer, "SELECT id FROM dispatch_jobs").await,
        vec![job_a.clone()]
    );
    assert_eq!(
        seen(&db, as_driver, "SELECT id FROM drivers").await,
        vec![drv_a.clone()]
    );
    assert_eq!(
        seen(&db, as_driver, "SELECT id FROM assignments").await,
        vec![shifts[0].clone()]
    );
    assert!(seen(&db, as_driver, "SELECT id FROM rentals")
        .await
        .is_empty());
    assert!(seen(&db, as_driver, "SELECT id FROM customers")
        .await
        .is_empty());
    assert!(seen(&db, as_driver, "SELECT id FROM dispatch_jobs")
        .await
        .is_empty());
    assert!(
        seen(
            &db,
            Some((Uuid::nil(), Role::Customer)),
            "SELECT id FROM rentals"
        )
        .await
        .is_empty(),
        "a customer with no profile sees nothing"
    );

    // Staff and the daemon's own work see everything.
    let admin_user: Uuid = db
        .query_one("SELECT id FROM users WHERE username = 'admin'", &[])
        .await
        .unwrap()
        .get(0);
    for caller in [
        Some((admin_user, Role::Admin)),
        Some((admin_user, Role::Dispatcher)),
        None,
    ] {
        assert_eq!(
            seen(&db, caller, "SELECT id FROM rentals").await,
            sorted(rentals.clone())
        );
        assert_eq!(
            seen(&db, caller, "SELECT id FROM dispatch_jobs").await,
            sorted(vec![job_a.clone(), job_staff.clone()])
        );
    }

    // Writes: another customer's rows cannot be touched or created.
    let scope = Scope {
        caller: as_customer,
        as_api_role: true,
    };
    db.batch_execute(&scope.begin_sql()).await.unwrap();
    let n = db
        .execute(
            "UPDATE rentals SET status = 'cancelled' WHERE id = $1",
            &[&rentals[1].parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(n, 0, "another customer's rental is invisible to an update");
    let e = db
        .execute(
            "INSERT INTO rentals (id, vehicle_id, customer_id, plan_id, starts_at, ends_at,
                                  estimated_km, currency)
             SELECT $1, 'rls-1', $2, plan_id, starts_at + interval '9 days',
                    ends_at + interval '9 days', 0, currency FROM rentals LIMIT 1",
            &[&Uuid::new_v4(), &cust_b.parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("row-level security"), "{e:?}");
    db.batch_execute("ROLLBACK").await.unwrap();

    // Through the API, a customer still reads its own rentals, and only them.
    let r = ca.get("/v1/rentals").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    let r = ca.get(&format!("/v1/rentals/{}", rentals[1])).await;
    assert_eq!(r.status, 404, "{}", r.body);
}
