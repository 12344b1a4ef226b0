-- The reading-driven alert rules' memory (src/alerts/readings, src/alerts/stream): per rule and
-- vehicle, the condition's state after the last reading it judged (a run over a threshold, the
-- fuel levels since parking, the trouble codes last reported). The trip segmenter's pass saves
-- it in the transaction that raises and clears the alerts, holding the vehicle's
-- `segment_state` row lock, so a restart carries on from what was committed. A deleted rule's
-- states go with it.
CREATE TABLE alert_states (
    rule_id    uuid  NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    vehicle_id text  NOT NULL,
    state      jsonb NOT NULL,
    PRIMARY KEY (rule_id, vehicle_id)
);
