"""Every component id of the dashboard, in one place (pages and tests import these)."""

# shell
URL = "url"
PAGE = "page"
NAV = "nav"
USER_BADGE = "user-badge"

# risk map
MAP_PERIOD_KIND = "map-period-kind"
MAP_CATEGORY = "map-category"
MAP_PERIOD = "map-period"
MAP_MEASURE = "map-measure"
MAP_LAYERS = "map-layers"
MAP_GRAPH = "map-graph"
MAP_SELECTED_CELL = "map-selected-cell"
CELL_PANEL = "cell-panel"
CELL_HISTORY = "cell-history"
CELL_REASONS = "cell-reasons"
CELL_FORECAST = "cell-forecast"
MAP_STATUS = "map-status"

# cameras
CAM_PERIOD = "cam-period"
CAM_LIST = "cam-list"
CAM_MAP = "cam-map"
CAM_GAPS = "cam-gaps"
CAM_WHY = "cam-why"

# models
MODELS_TARGET = "models-target"
MODELS_TABLE = "models-table"
MODELS_CURVES = "models-curves"
MODELS_VERSIONS = "models-versions"
MODELS_BACKTEST_INFO = "models-backtest-info"
RETRAIN_PERIOD = "retrain-period"
RETRAIN_BUTTON = "retrain-button"
BACKTEST_START = "backtest-start"
BACKTEST_END = "backtest-end"
BACKTEST_BUTTON = "backtest-button"
TASK_MESSAGE = "task-message"
TASKS_TABLE = "tasks-table"
TASKS_INTERVAL = "tasks-interval"

# exports
EXPORT_PERIOD = "export-period"
EXPORT_AREA = "export-area"
EXPORT_FORMAT = "export-format"
EXPORT_PREVIEW = "export-preview"
EXPORT_BUTTON = "export-button"
EXPORT_DOWNLOAD = "export-download"
EXPORT_MESSAGE = "export-message"

# analysis
AN_CATEGORY = "an-category"
AN_START = "an-start"
AN_END = "an-end"
AN_RUN = "an-run"
AN_STATUS = "an-status"
AN_MAP = "an-map"
AN_PATTERNS = "an-patterns"
AN_KNOX = "an-knox"
AN_SENTENCE = "an-sentence"
