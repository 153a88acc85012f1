CREATE TABLE organization (
	id SERIAL NOT NULL, 
	title VARCHAR NOT NULL, 
	legacy_api_tokens_enabled BOOLEAN NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE project_task_count (
	project_id INTEGER NOT NULL, 
	tasks INTEGER NOT NULL, 
	ground_truth INTEGER NOT NULL, 
	PRIMARY KEY (project_id)
);
CREATE TABLE emulator_state (
	id SERIAL NOT NULL, 
	secret_key VARCHAR NOT NULL, 
	clock_offset_seconds FLOAT NOT NULL, 
	clock_frozen_at TIMESTAMP WITH TIME ZONE, 
	policy JSON NOT NULL, 
	seed_changed BOOLEAN DEFAULT false NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE fault_rule (
	id SERIAL NOT NULL, 
	method VARCHAR, 
	path VARCHAR NOT NULL, 
	status INTEGER, 
	delay_ms INTEGER, 
	drop BOOLEAN NOT NULL, 
	retry_after INTEGER, 
	times INTEGER, 
	probability FLOAT, 
	after INTEGER NOT NULL, 
	user_id INTEGER, 
	organization_id INTEGER, 
	matched INTEGER NOT NULL, 
	fired INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE refine_job (
	id VARCHAR(64) NOT NULL, 
	organization_id INTEGER NOT NULL, 
	prompt_id INTEGER NOT NULL, 
	version_id INTEGER NOT NULL, 
	project_id INTEGER NOT NULL, 
	created_by_id INTEGER, 
	teacher_model_name VARCHAR NOT NULL, 
	teacher_connection_id INTEGER NOT NULL, 
	status VARCHAR NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	next_due_at TIMESTAMP WITH TIME ZONE, 
	completed_at TIMESTAMP WITH TIME ZONE, 
	refined_version_id INTEGER, 
	reasoning VARCHAR, 
	total_cost_usd FLOAT, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_refine_job_version_id ON refine_job (version_id);
CREATE INDEX ix_refine_job_next_due_at ON refine_job (next_due_at);
CREATE INDEX ix_refine_job_organization_id ON refine_job (organization_id);
CREATE TABLE "user" (
	id SERIAL NOT NULL, 
	email VARCHAR NOT NULL, 
	username VARCHAR NOT NULL, 
	first_name VARCHAR NOT NULL, 
	last_name VARCHAR NOT NULL, 
	organization_id INTEGER NOT NULL, 
	token VARCHAR NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(organization_id) REFERENCES organization (id), 
	UNIQUE (token)
);
CREATE INDEX ix_user_organization_id ON "user" (organization_id);
CREATE TABLE prompt (
	id SERIAL NOT NULL, 
	title VARCHAR NOT NULL, 
	organization_id INTEGER NOT NULL, 
	description VARCHAR, 
	skill_name VARCHAR DEFAULT 'TextClassification' NOT NULL, 
	input_fields JSON DEFAULT '[]' NOT NULL, 
	output_classes JSON DEFAULT '[]' NOT NULL, 
	created_by_id INTEGER, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT '1970-01-01 00:00:00+00:00' NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE DEFAULT '1970-01-01 00:00:00+00:00' NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(organization_id) REFERENCES organization (id)
);
CREATE INDEX ix_prompt_organization_id ON prompt (organization_id);
CREATE TABLE access_token (
	id SERIAL NOT NULL, 
	user_id INTEGER NOT NULL, 
	jti VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	blacklisted_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	FOREIGN KEY(user_id) REFERENCES "user" (id), 
	UNIQUE (jti)
);
CREATE INDEX ix_access_token_user_id ON access_token (user_id);
CREATE TABLE project (
	id SERIAL NOT NULL, 
	title VARCHAR, 
	organization_id INTEGER NOT NULL, 
	description VARCHAR, 
	label_config VARCHAR, 
	created_by_id INTEGER, 
	created_at TIMESTAMP WITH TIME ZONE, 
	pinned_at TIMESTAMP WITH TIME ZONE, 
	source_interface_id INTEGER, 
	settings JSON, 
	PRIMARY KEY (id), 
	FOREIGN KEY(organization_id) REFERENCES organization (id), 
	FOREIGN KEY(created_by_id) REFERENCES "user" (id)
);
CREATE INDEX ix_project_organization_id ON project (organization_id);
CREATE TABLE prompt_version (
	id SERIAL NOT NULL, 
	prompt_id INTEGER NOT NULL, 
	title VARCHAR NOT NULL, 
	prompt VARCHAR NOT NULL, 
	provider VARCHAR NOT NULL, 
	provider_model_id VARCHAR NOT NULL, 
	accuracy FLOAT NOT NULL, 
	failure_rate FLOAT NOT NULL, 
	max_few_shot_examples INTEGER, 
	model_provider_connection_id INTEGER, 
	organization_id INTEGER, 
	created_by_id INTEGER, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT '1970-01-01 00:00:00+00:00' NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE DEFAULT '1970-01-01 00:00:00+00:00' NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(prompt_id) REFERENCES prompt (id)
);
CREATE INDEX ix_prompt_version_prompt_id ON prompt_version (prompt_id);
CREATE TABLE model_provider_connection (
	id SERIAL NOT NULL, 
	organization_id INTEGER NOT NULL, 
	created_by_id INTEGER, 
	provider VARCHAR NOT NULL, 
	scope VARCHAR NOT NULL, 
	api_key VARCHAR, 
	auth_token VARCHAR, 
	google_application_credentials VARCHAR, 
	deployment_name VARCHAR, 
	endpoint VARCHAR, 
	google_project_id VARCHAR, 
	google_location VARCHAR, 
	cached_available_models VARCHAR, 
	is_internal BOOLEAN, 
	budget_alert_threshold FLOAT, 
	budget_limit FLOAT, 
	budget_reset_period VARCHAR, 
	budget_total_spent FLOAT, 
	budget_last_reset_date TIMESTAMP WITH TIME ZONE, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(organization_id) REFERENCES organization (id), 
	FOREIGN KEY(created_by_id) REFERENCES "user" (id)
);
CREATE INDEX ix_model_provider_connection_organization_id ON model_provider_connection (organization_id);
CREATE TABLE task (
	id SERIAL NOT NULL, 
	project_id INTEGER NOT NULL, 
	has_ground_truth BOOLEAN NOT NULL, 
	data JSON DEFAULT '{}' NOT NULL, 
	meta JSON, 
	inner_id BIGINT, 
	allow_skip BOOLEAN, 
	created_at TIMESTAMP WITH TIME ZONE, 
	updated_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	FOREIGN KEY(project_id) REFERENCES project (id)
);
CREATE INDEX ix_task_project_gt ON task (project_id, has_ground_truth, id);
CREATE TABLE prompt_project (
	prompt_id INTEGER NOT NULL, 
	project_id INTEGER NOT NULL, 
	PRIMARY KEY (prompt_id, project_id), 
	FOREIGN KEY(prompt_id) REFERENCES prompt (id), 
	FOREIGN KEY(project_id) REFERENCES project (id)
);
CREATE TABLE model_run (
	id SERIAL NOT NULL, 
	organization_id INTEGER, 
	project_id INTEGER NOT NULL, 
	prompt_id INTEGER NOT NULL, 
	version_id INTEGER NOT NULL, 
	created_by_id INTEGER NOT NULL, 
	status VARCHAR NOT NULL, 
	project_subset VARCHAR NOT NULL, 
	sample_subset_size INTEGER, 
	filters_json JSON NOT NULL, 
	job_id VARCHAR(255), 
	only_missing_predictions BOOLEAN NOT NULL, 
	task_ids JSON NOT NULL, 
	source_model_run_id INTEGER, 
	total_tasks INTEGER, 
	total_predictions INTEGER, 
	total_correct_predictions INTEGER, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	triggered_at TIMESTAMP WITH TIME ZONE, 
	completed_at TIMESTAMP WITH TIME ZONE, 
	predictions_updated_at TIMESTAMP WITH TIME ZONE, 
	total_failed INTEGER NOT NULL, 
	next_due_at TIMESTAMP WITH TIME ZONE, 
	outcome VARCHAR, 
	inference_mode VARCHAR DEFAULT 'simulated' NOT NULL, 
	tasks_done_through BIGINT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(organization_id) REFERENCES organization (id), 
	FOREIGN KEY(project_id) REFERENCES project (id), 
	FOREIGN KEY(prompt_id) REFERENCES prompt (id), 
	FOREIGN KEY(version_id) REFERENCES prompt_version (id), 
	FOREIGN KEY(created_by_id) REFERENCES "user" (id)
);
CREATE INDEX ix_model_run_project_id ON model_run (project_id);
CREATE INDEX ix_model_run_due ON model_run (status, next_due_at);
CREATE INDEX ix_model_run_due_order ON model_run (next_due_at, id) WHERE next_due_at IS NOT NULL;
CREATE INDEX ix_model_run_scored ON model_run (version_id, status, project_subset, completed_at, id);
CREATE TABLE project_import (
	id SERIAL NOT NULL, 
	project_id INTEGER NOT NULL, 
	status VARCHAR NOT NULL, 
	error VARCHAR, 
	commit_to_project BOOLEAN NOT NULL, 
	return_task_ids BOOLEAN NOT NULL, 
	preannotated_from_fields JSON, 
	task_count INTEGER NOT NULL, 
	annotation_count INTEGER NOT NULL, 
	prediction_count INTEGER NOT NULL, 
	duration INTEGER NOT NULL, 
	task_ids JSON NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	finished_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	FOREIGN KEY(project_id) REFERENCES project (id)
);
CREATE INDEX ix_project_import_project_id ON project_import (project_id);
CREATE TABLE few_shot_example (
	id SERIAL NOT NULL, 
	version_id INTEGER NOT NULL, 
	task_id INTEGER NOT NULL, 
	annotation_id INTEGER NOT NULL, 
	"order" INTEGER NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(version_id) REFERENCES prompt_version (id), 
	FOREIGN KEY(task_id) REFERENCES task (id)
);
CREATE INDEX ix_few_shot_example_version_id ON few_shot_example (version_id);
CREATE INDEX ix_few_shot_example_task_id ON few_shot_example (task_id);
CREATE TABLE run_task (
	run_id INTEGER NOT NULL, 
	task_id BIGINT NOT NULL, 
	PRIMARY KEY (run_id, task_id), 
	FOREIGN KEY(run_id) REFERENCES model_run (id)
);
CREATE TABLE prediction (
	id SERIAL NOT NULL, 
	run_id INTEGER, 
	task_id INTEGER NOT NULL, 
	version_id INTEGER, 
	correct BOOLEAN, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	project_id INTEGER, 
	result JSON DEFAULT '[]' NOT NULL, 
	score FLOAT, 
	model_version VARCHAR DEFAULT '' NOT NULL, 
	cluster INTEGER, 
	neighbors JSON, 
	mislabeling FLOAT DEFAULT '0' NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE, 
	prompt_tokens INTEGER, 
	completion_tokens INTEGER, 
	prompt_cost_usd FLOAT, 
	completion_cost_usd FLOAT, 
	total_cost_usd FLOAT, 
	inference_time FLOAT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(run_id) REFERENCES model_run (id), 
	FOREIGN KEY(task_id) REFERENCES task (id)
);
CREATE INDEX ix_prediction_version_task ON prediction (version_id, task_id);
CREATE INDEX ix_prediction_run_id ON prediction (run_id);
CREATE INDEX ix_prediction_task ON prediction (task_id, id, score, model_version);
CREATE INDEX ix_prediction_project_id ON prediction (project_id);
CREATE UNIQUE INDEX uq_prediction_run_task ON prediction (run_id, task_id);
CREATE TABLE failed_prediction (
	id SERIAL NOT NULL, 
	run_id INTEGER NOT NULL, 
	task_id INTEGER NOT NULL, 
	version_id INTEGER NOT NULL, 
	error_type VARCHAR NOT NULL, 
	message VARCHAR NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	prompt_tokens INTEGER, 
	completion_tokens INTEGER, 
	total_cost_usd FLOAT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(run_id) REFERENCES model_run (id), 
	FOREIGN KEY(task_id) REFERENCES task (id), 
	FOREIGN KEY(version_id) REFERENCES prompt_version (id)
);
CREATE INDEX ix_failed_prediction_run_id ON failed_prediction (run_id);
CREATE UNIQUE INDEX uq_failed_prediction_run_task ON failed_prediction (run_id, task_id);
CREATE TABLE annotation (
	id SERIAL NOT NULL, 
	task_id INTEGER NOT NULL, 
	project_id INTEGER, 
	result JSON NOT NULL, 
	ground_truth BOOLEAN NOT NULL, 
	was_cancelled BOOLEAN NOT NULL, 
	completed_by_id INTEGER, 
	lead_time FLOAT, 
	import_id BIGINT, 
	created_at TIMESTAMP WITH TIME ZONE, 
	updated_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	FOREIGN KEY(task_id) REFERENCES task (id), 
	FOREIGN KEY(project_id) REFERENCES project (id), 
	FOREIGN KEY(completed_by_id) REFERENCES "user" (id)
);
CREATE INDEX ix_annotation_project_id ON annotation (project_id);
CREATE INDEX ix_annotation_task ON annotation (task_id, id);
CREATE TABLE run_event (
	id SERIAL NOT NULL, 
	run_id INTEGER NOT NULL, 
	from_status VARCHAR, 
	to_status VARCHAR NOT NULL, 
	at TIMESTAMP WITH TIME ZONE NOT NULL, 
	cause VARCHAR NOT NULL, 
	reason VARCHAR NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(run_id) REFERENCES model_run (id)
);
CREATE INDEX ix_run_event_run_id ON run_event (run_id);
CREATE FUNCTION task_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO project_task_count (project_id, tasks, ground_truth) SELECT project_id, count(*) AS tasks, count(*) FILTER (WHERE has_ground_truth) AS ground_truth FROM new_tasks GROUP BY project_id ON CONFLICT (project_id) DO UPDATE SET tasks = project_task_count.tasks + excluded.tasks, ground_truth = project_task_count.ground_truth + excluded.ground_truth; RETURN NULL; END $$;
CREATE TRIGGER task_count_insert AFTER INSERT ON task REFERENCING NEW TABLE AS new_tasks FOR EACH STATEMENT EXECUTE FUNCTION task_count_insert();
CREATE FUNCTION task_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE project_task_count SET tasks = project_task_count.tasks - gone.tasks, ground_truth = project_task_count.ground_truth - gone.ground_truth FROM (SELECT project_id, count(*) AS tasks, count(*) FILTER (WHERE has_ground_truth) AS ground_truth FROM old_tasks GROUP BY project_id) AS gone WHERE project_task_count.project_id = gone.project_id; RETURN NULL; END $$;
CREATE TRIGGER task_count_delete AFTER DELETE ON task REFERENCING OLD TABLE AS old_tasks FOR EACH STATEMENT EXECUTE FUNCTION task_count_delete();
CREATE FUNCTION task_count_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO project_task_count (project_id, tasks, ground_truth) SELECT project_id, sum(tasks), sum(ground_truth) FROM (SELECT project_id, 1 AS tasks, has_ground_truth::int AS ground_truth FROM new_tasks UNION ALL SELECT project_id, -1, -(has_ground_truth::int) FROM old_tasks) AS moved GROUP BY project_id HAVING sum(tasks) <> 0 OR sum(ground_truth) <> 0 ON CONFLICT (project_id) DO UPDATE SET tasks = project_task_count.tasks + excluded.tasks, ground_truth = project_task_count.ground_truth + excluded.ground_truth; RETURN NULL; END $$;
CREATE TRIGGER task_count_update AFTER UPDATE ON task REFERENCING OLD TABLE AS old_tasks NEW TABLE AS new_tasks FOR EACH STATEMENT EXECUTE FUNCTION task_count_update();
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version (version_num) VALUES ('0015')
