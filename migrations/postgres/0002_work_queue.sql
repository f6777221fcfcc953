-- Workers look for actions waiting to run (or caught mid-run by a crash); keep that cheap.
CREATE INDEX actions_to_run ON actions (pk) WHERE status IN ('pending', 'executing');
