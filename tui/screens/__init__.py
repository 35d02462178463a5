"""The app's screens, one per module (imported from their modules, so opening one screen does
not import the others):

- `compare.CompareScreen`: both models live, side by side (F2); `compare_layout.CompareLayout`
  is the layout it shares with `stored_compare.StoredCompareScreen`, a recorded answer.
- `runs.RunsScreen` (F3), `sql.SqlScreen` (F4) with its `history.HistoryScreen` and
  `export.ExportScreen` dialogs, `report.ReportScreen` (F6) with `run_picker.RunPickerScreen`.
- `help.HelpScreen`: every key binding (F1).
"""
