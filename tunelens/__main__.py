from tunelens.cli import main

raise SystemExit(main())
