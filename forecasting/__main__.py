from forecasting.cli import main

if __name__ == "__main__":  # importing the module (doctest collection) runs nothing
    main()
